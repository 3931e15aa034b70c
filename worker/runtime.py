"""One worker process: claims jobs for the messages it takes, runs them, keeps house.

``take(queue)`` is what a ``hatchery.run_job`` message triggers: claim the fairest queued job
of the queue, run it (a pipeline only advances), then announce what still waits. Beside it a
housekeeping thread reports the worker to the admin page (host, devices, current job) and
re-queues jobs whose worker stopped heartbeating, announcing them and any job left waiting
without a message (an expired one, or one lost with a broker restart), and deletes what
expired synchronous predictions left in the store.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.kit.db import create_db_engine, make_session_factory, session_scope, utcnow
from api.kit.dispatch import CeleryDispatcher, Dispatcher
from api.kit.settings import Settings
from api.kit.storage import ObjectStore, build_store
from api.models.jobs import JobStatus, Worker
from api.models.tenants import Organization
from engine.schemas.kinds import KINDS
from worker import pipeline
from worker.devices import describe_devices
from worker.retention import sweep_predictions
from worker.scheduler import claim_next, requeue_lapsed, waiting_queues
from worker.supervisor import Supervisor

log = logging.getLogger("hatchery.worker")


@dataclass
class WorkerRuntime:
    settings: Settings
    factory: sessionmaker[Session]
    store: ObjectStore
    dispatcher: Dispatcher
    name: str
    queues: list[str]
    shutting_down: threading.Event = field(default_factory=threading.Event)
    current_job: uuid.UUID | None = None
    last_sweep: float | None = None  # time.monotonic() of the last sweep of old predictions

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerRuntime:
        queues = list(settings.worker_queues)
        name = settings.worker_name or "+".join(queues)
        if "@" not in name:
            name = f"{name}@{socket.gethostname()}"
        return cls(settings=settings,
                   factory=make_session_factory(create_db_engine(settings.database_url)),
                   store=build_store(settings),
                   dispatcher=CeleryDispatcher(settings.broker_url,
                                               settings.message_expires_seconds),
                   name=name, queues=queues)

    @property
    def owner(self) -> str:
        """The lease holder's name: unique per process, so a restarted worker owns nothing."""
        return f"{self.name}/{os.getpid()}"

    # -------------------------------------------------------------------------------- jobs
    def take(self, queue: str) -> dict[str, Any]:
        """Claim and run the next job of ``queue`` (a message's work); a summary for logs.
        A worker that is shutting down claims nothing (it would only hand the job back)."""
        if self.shutting_down.is_set():
            return {"queue": queue, "job": None, "skipped": "shutting down"}
        claim = claim_next(self.factory, queue, self.owner, self.settings.lease_seconds)
        if claim is None:
            return {"queue": queue, "job": None}
        if KINDS[claim.kind].orchestrates:
            status = pipeline.advance(self.factory, self.dispatcher, claim.job_id,
                                      retrying=True)
            return {"queue": queue, "job": str(claim.job_id), "status": status.value}
        self.current_job = claim.job_id
        self.report_presence()
        try:
            supervisor = Supervisor(self.settings, self.factory, self.store, self.owner,
                                    self.shutting_down)
            status, row = supervisor.run(claim)
        finally:
            self.current_job = None
            self.report_presence()
        if row.parent_id is not None and status in (JobStatus.succeeded, JobStatus.failed,
                                                    JobStatus.cancelled):
            pipeline.advance(self.factory, self.dispatcher, row.parent_id)
        self.announce_waiting()
        return {"queue": queue, "job": str(claim.job_id), "status": status.value}

    def announce_waiting(self, older_than_seconds: float = 0.0) -> None:
        """One message per queue that has a job waiting (a slot may have just opened)."""
        for queue, job_id in waiting_queues(self.factory, older_than_seconds).items():
            self.dispatcher.enqueue(job_id, queue, 0)

    # ----------------------------------------------------------------------- housekeeping
    def report_presence(self) -> None:
        """Best effort: the admin page may lag a heartbeat; a job never fails for it."""
        try:
            self._write_presence()
        except SQLAlchemyError:
            log.exception("could not report this worker's presence")

    def _write_presence(self) -> None:
        now = utcnow()
        values = {"hostname": socket.gethostname(), "pid": os.getpid(), "queues": self.queues,
                  "devices": describe_devices(), "current_job_id": self.current_job,
                  "last_seen_at": now}
        with session_scope(self.factory) as session:
            updated = session.execute(update(Worker).where(Worker.name == self.name)
                                      .values(**values))
            if updated.rowcount == 0:
                session.add(Worker(name=self.name, started_at=now, **values))

    def keep_house(self) -> None:
        """Once: presence, lapsed leases back to their queue, stalled pipelines on, long
        waits announced."""
        self.report_presence()
        for job_id, queue in requeue_lapsed(self.factory, self.settings.max_job_attempts):
            log.warning("job %s: its worker stopped heartbeating; re-queued", job_id)
            self.dispatcher.enqueue(job_id, queue, 0)
        for pipeline_id in pipeline.stalled(self.factory,
                                            3 * self.settings.housekeeping_seconds):
            pipeline.advance(self.factory, self.dispatcher, pipeline_id)
        self.announce_waiting(older_than_seconds=3 * self.settings.housekeeping_seconds)
        self.sweep_old_predictions()

    def sweep_old_predictions(self) -> None:
        """At most every twelfth of the retention: delete what expired predict requests
        left in the store."""
        retention = self.settings.prediction_retention_seconds
        now = time.monotonic()
        if self.last_sweep is not None and now - self.last_sweep < retention / 12:
            return
        self.last_sweep = now
        with session_scope(self.factory) as session:
            organizations = [str(i) for i in session.scalars(select(Organization.id))]
        sweep_predictions(self.store, organizations, utcnow() - timedelta(seconds=retention))

    def start_housekeeping(self) -> threading.Thread:
        def loop() -> None:
            while not self.shutting_down.wait(self.settings.housekeeping_seconds):
                try:
                    self.keep_house()
                except Exception:  # a database or broker hiccup: try again next round
                    log.exception("housekeeping failed")

        try:
            self.keep_house()
        except Exception:
            log.exception("housekeeping failed")
        thread = threading.Thread(target=loop, name="hatchery-housekeeping", daemon=True)
        thread.start()
        return thread
