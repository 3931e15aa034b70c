"""Announcing queued jobs to the workers, by task name: the API never imports worker code.

A message on queue ``q`` says "a job waits on ``q``"; the worker that takes it claims the
fairest queued job of that queue from the database (worker/scheduler.py), so a message
delivered twice, or late, can never run a job twice. ``CeleryDispatcher`` sends
``hatchery.run_job`` over the configured broker (Redis in production, SQLite through
kombu's SQLAlchemy transport in embedded mode), with an expiry on every message, from one
background thread over one held connection: a request only hands its announcement over.
``RecordingDispatcher`` keeps the ids, for deployments without workers and for tests of the
API alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import Any, Protocol

RUN_JOB_TASK = "hatchery.run_job"
CLOSE_SECONDS = 5.0
log = logging.getLogger("hatchery.dispatch")


class Dispatcher(Protocol):
    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None:
        """Send what is still pending (briefly), then stop."""


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, int]] = []

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self.sent.append((job_id, queue, priority))

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """Redis: a message unacknowledged for an hour goes back to the queue (the job lease makes
    that harmless). kombu's SQLAlchemy transport hands its options to ``create_engine``, so
    it gets none (its polling interval is set by the worker, worker/app.py)."""
    if broker_url.startswith("sqla+"):
        return {}
    return {"visibility_timeout": 3600}


class CeleryDispatcher:
    """Announces jobs from one background thread that holds its broker connection.

    ``enqueue`` only queues the announcement in memory, so a request spends nothing on the
    broker; the publisher sends them in order, reconnecting after a failure. A message lost
    with the process (it died between a commit and the send) or refused by a broker that is
    down delays its job but never loses it: workers announce jobs left waiting without a
    message (worker/runtime.py).
    """

    def __init__(self, broker_url: str, expires_seconds: int = 3600) -> None:
        from celery import Celery

        self.app = Celery("hatchery-api", broker=broker_url)
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_transport_options = broker_transport_options(broker_url)
        self.expires_seconds = expires_seconds
        self._pending: queue.SimpleQueue[tuple[uuid.UUID, str, int] | None] = (
            queue.SimpleQueue())
        self._publisher: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self._start_publisher()
        self._pending.put((job_id, queue, priority))

    def _start_publisher(self) -> None:
        """Started on first use, and again in a forked child (threads do not survive a fork)."""
        if self._publisher is not None and self._publisher.is_alive():
            return
        with self._lock:
            if self._publisher is None or not self._publisher.is_alive():
                self._publisher = threading.Thread(target=self._publish_loop, daemon=True,
                                                   name="hatchery-dispatch")
                self._publisher.start()

    def _publish_loop(self) -> None:
        connection = None
        while (announcement := self._pending.get()) is not None:
            job_id, queue, priority = announcement
            try:
                if connection is None:
                    connection = self.app.connection_for_write()
                    producer = connection.Producer()
                self.app.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=queue,
                                   expires=self.expires_seconds, producer=producer,
                                   priority=max(0, min(9, 5 + priority // 2)))
            except Exception:
                log.exception("job %s: could not announce it on %s (workers will find it)",
                              job_id, queue)
                if connection is not None:
                    connection.close()
                connection = None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        publisher = self._publisher
        if publisher is not None and publisher.is_alive():
            self._pending.put(None)
            publisher.join(CLOSE_SECONDS)

    def ping(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False
