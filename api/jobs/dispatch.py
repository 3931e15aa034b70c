"""Announcing queued jobs to the workers, by task name: the API never imports worker code.

A message on queue ``q`` says "a job waits on ``q``"; the worker that takes it claims the
fairest queued job of that queue from the database (worker/scheduler.py), so a message
delivered twice, or late, can never run a job twice. ``CeleryDispatcher`` sends
``hatchery.run_job`` over the configured broker (Redis in production, SQLite through
kombu's SQLAlchemy transport in embedded mode), with an expiry on every message.
``RecordingDispatcher`` keeps the ids, for deployments without workers and for tests of the
API alone.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

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


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """Redis: a message unacknowledged for an hour goes back to the queue (the job lease makes
    that harmless). kombu's SQLAlchemy transport hands its options to ``create_engine``, so
    it gets none (its polling interval is set by the worker, worker/app.py)."""
    if broker_url.startswith("sqla+"):
        return {}
    return {"visibility_timeout": 3600}


class CeleryDispatcher:
    def __init__(self, broker_url: str, expires_seconds: int = 3600) -> None:
        from celery import Celery

        self.app = Celery("hatchery-api", broker=broker_url)
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_transport_options = broker_transport_options(broker_url)
        self.expires_seconds = expires_seconds

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self.app.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=queue,
                           expires=self.expires_seconds,
                           priority=max(0, min(9, 5 + priority // 2)))

    def ping(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False
