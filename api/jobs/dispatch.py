"""Handing a queued job to the workers, by task name: the API never imports worker code.

``CeleryDispatcher`` sends ``hatchery.run_job`` to the job's queue over the configured broker
(Redis in production, SQLite in embedded mode). ``RecordingDispatcher`` keeps the ids, for
deployments without workers and for tests of the API alone.
"""

from __future__ import annotations

import uuid
from typing import Protocol

RUN_JOB_TASK = "hatchery.run_job"


class Dispatcher(Protocol):
    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None: ...

    def ping(self) -> bool: ...


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, int]] = []

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self.sent.append((job_id, queue, priority))

    def ping(self) -> bool:
        return True


class CeleryDispatcher:
    def __init__(self, broker_url: str) -> None:
        from celery import Celery

        self.app = Celery("hatchery-api", broker=broker_url)
        self.app.conf.broker_connection_retry_on_startup = False

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self.app.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=queue,
                           priority=max(0, min(9, 5 + priority // 2)))

    def ping(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False
