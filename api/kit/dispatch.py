"""Announcing queued jobs to the workers, by task name: the API never imports worker code.

A message on queue ``q`` says "a job waits on ``q``"; the worker that takes it claims the
fairest queued job of that queue from the database (worker/scheduler.py), so a message
delivered twice, or late, can never run a job twice. ``CeleryDispatcher`` sends
``hatchery.run_job`` over the configured broker (Redis in production, SQLite through
kombu's SQLAlchemy transport in embedded mode), with an expiry on every message, from one
publisher that holds its broker connection: a request only hands its announcement over. The
API runs that publisher in a process of its own (publishing costs Python time, and the API's
one interpreter is what limits its request rate); a worker runs it in a thread.
``RecordingDispatcher`` keeps the ids, for deployments without workers and for tests of the
API alone. A synchronous predict request goes out at once (``request_prediction``): its
caller is waiting for the answer.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import uuid
from multiprocessing.connection import Connection
from typing import Any, Protocol

from api.kit.tasks import PREDICT_QUEUE, PREDICT_TASK, RUN_JOB_TASK, broker_transport_options

CLOSE_SECONDS = 5.0
ORPHAN_CHECK_SECONDS = 1.0
log = logging.getLogger("hatchery.dispatch")


class Dispatcher(Protocol):
    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None: ...

    def request_prediction(self, request: dict[str, Any], expires_seconds: float) -> None:
        """Ask a prediction server to answer ``request`` (``PREDICT_TASK``), now."""

    def ping(self) -> bool: ...

    def close(self) -> None:
        """Send what is still pending (briefly), then stop."""


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, int]] = []
        self.predictions: list[dict[str, Any]] = []

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        self.sent.append((job_id, queue, priority))

    def request_prediction(self, request: dict[str, Any], expires_seconds: float) -> None:
        self.predictions.append(request)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


class Announcer:
    """Sends ``hatchery.run_job`` messages over one held broker connection, reconnecting
    after a failure. Lives wherever the publisher runs (a thread or a process)."""

    def __init__(self, broker_url: str, expires_seconds: int) -> None:
        from celery import Celery

        self.app = Celery("hatchery-api", broker=broker_url)
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_transport_options = broker_transport_options(broker_url)
        self.expires_seconds = expires_seconds
        self._connection = None
        self._producer = None

    def send(self, job_id: str, queue: str, priority: int) -> None:
        try:
            if self._connection is None:
                self._connection = self.app.connection_for_write()
                self._producer = self._connection.Producer()
            self.app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue,
                               expires=self.expires_seconds, producer=self._producer,
                               priority=max(0, min(9, 5 + priority // 2)))
        except Exception:
            log.exception("job %s: could not announce it on %s (workers will find it)",
                          job_id, queue)
            self.close()

    def request_prediction(self, request: dict[str, Any], expires_seconds: float) -> None:
        """Sent at once on a connection of its own: the caller waits for the answer anyway,
        and a broker that is down must fail the request, not delay it."""
        self.app.send_task(PREDICT_TASK, args=[request], queue=PREDICT_QUEUE,
                           expires=expires_seconds, retry=False)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._producer = None

    def ping(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False


Announcement = tuple[str, str, int]  # job id, queue, priority


def _publish_from_thread(announcer: Announcer,
                         pending: queue.SimpleQueue[Announcement | None]) -> None:
    while (announcement := pending.get()) is not None:
        announcer.send(*announcement)
    announcer.close()


def _publish_from_process(broker_url: str, expires_seconds: int, inbox: Connection,
                          parent_pid: int) -> None:
    """The publisher process: announcements arrive over a pipe until ``None`` comes, the
    pipe closes, or the API process that started it is gone."""
    announcer = Announcer(broker_url, expires_seconds)
    try:
        while os.getppid() == parent_pid:
            if not inbox.poll(ORPHAN_CHECK_SECONDS):
                continue
            announcement = inbox.recv()
            if announcement is None:
                break
            announcer.send(*announcement)
    except (EOFError, OSError):
        pass  # the API process closed its end
    finally:
        announcer.close()


class CeleryDispatcher:
    """Announces jobs from one publisher that holds its broker connection.

    ``enqueue`` only hands the announcement over, so a request spends nothing on the broker;
    the publisher sends them in order. ``separate_process=True`` (the API) runs the publisher
    in a spawned child process fed through a pipe: an announcement then costs the API a few
    microseconds instead of the ~1.5 ms of Python that building and sending a Celery message
    takes (measured: 19% of the API's interpreter time under a job-submit load). Otherwise
    (workers, which announce rarely) it is a thread. A message lost with the process (it died
    between a commit and the send) or refused by a broker that is down delays its job but
    never loses it: workers announce jobs left waiting without a message (worker/runtime.py).
    """

    def __init__(self, broker_url: str, expires_seconds: int = 3600,
                 separate_process: bool = False) -> None:
        self.broker_url = broker_url
        self.expires_seconds = expires_seconds
        self.separate_process = separate_process
        self._announcer = Announcer(broker_url, expires_seconds)  # for ping()
        self._lock = threading.Lock()
        self._owner_pid: int | None = None
        self._publisher: threading.Thread | multiprocessing.Process | None = None
        self._handover: queue.SimpleQueue[Announcement | None] | None = None
        self._pipe: Connection | None = None

    @property
    def app(self):
        """The Celery app announcements are made with (its configuration, for tests)."""
        return self._announcer.app

    def enqueue(self, job_id: uuid.UUID, queue: str, priority: int) -> None:
        announcement = (str(job_id), queue, priority)
        with self._lock:
            self._start_publisher()
            if self._pipe is None:
                self._handover.put(announcement)
                return
            try:
                self._pipe.send(announcement)  # writers share the pipe: under the lock
            except OSError:  # the publisher died; the next announcement starts another
                log.exception("job %s: could not hand its announcement over (workers will "
                              "find it)", job_id)

    def request_prediction(self, request: dict[str, Any], expires_seconds: float) -> None:
        with self._lock:  # the announcer's app is shared with ping()
            self._announcer.request_prediction(request, expires_seconds)

    def _running(self) -> bool:
        return (self._owner_pid == os.getpid() and self._publisher is not None
                and self._publisher.is_alive())

    def _start_publisher(self) -> None:
        """Started on first use, and again after it died or in a forked child (neither
        threads nor child processes belong to a fork)."""
        if self._running():
            return
        self._owner_pid = os.getpid()
        if self._pipe is not None:
            self._pipe.close()
        if self.separate_process:
            context = multiprocessing.get_context("spawn")  # safe beside the API's threads
            inbox, self._pipe = context.Pipe(duplex=False)
            self._publisher = context.Process(
                target=_publish_from_process, name="hatchery-dispatch", daemon=True,
                args=(self.broker_url, self.expires_seconds, inbox, os.getpid()))
            self._publisher.start()
            inbox.close()
        else:
            self._handover = queue.SimpleQueue()
            self._publisher = threading.Thread(
                target=_publish_from_thread, args=(self._announcer, self._handover),
                daemon=True, name="hatchery-dispatch")
            self._publisher.start()

    def close(self) -> None:
        with self._lock:
            if not self._running():
                return
            if self._pipe is not None:
                self._pipe.send(None)
                self._pipe.close()
                self._pipe = None
            else:
                self._handover.put(None)
            self._publisher.join(CLOSE_SECONDS)

    def ping(self) -> bool:
        return self._announcer.ping()
