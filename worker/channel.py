"""The job's line to the database while the engine runs: progress out, stop requests in.

The engine calls ``report`` with each ``Progress`` and ``should_stop`` every step. Both are
throttled: reports are buffered and written together at most every ``flush_seconds``, and
the database is read for a cancel flag or a lost lease at the same moments, so a fast loop
costs the database one small transaction a second, however many steps it runs.

    channel = JobChannel(factory, job, owner="gpu0@host", flush_seconds=1.0)
    run = PretrainRun(config, out, callbacks=[channel.report], should_cancel=channel.should_stop)
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.kit.db import session_scope, utcnow
from api.models.jobs import Job, JobEvent, JobStatus

if TYPE_CHECKING:  # the engine (torch) loads only in processes that train
    from engine.train.progress import Progress

log = logging.getLogger("hatchery.worker.channel")


class JobStopped(Exception):
    """Raised from a progress report: the job was cancelled or is no longer ours."""


class JobChannel:
    def __init__(self, factory: sessionmaker[Session], job_id: uuid.UUID,
                 organization_id: uuid.UUID, owner: str, flush_seconds: float = 1.0,
                 writer: bool = True, parent_id: uuid.UUID | None = None) -> None:
        self.factory = factory
        self.job_id = job_id
        self.organization_id = organization_id
        self.owner = owner
        self.flush_seconds = flush_seconds
        self.writer = writer  # under DDP only rank 0 writes; every rank reads stop requests
        self.parent_pid = os.getppid()
        self._pending: list[JobEvent] = []
        self._progress: dict[str, Any] | None = None
        self._last_sync = time.monotonic()
        self.stop_reason: str | None = None
        # A pipeline's stage: its progress shows on the pipeline too, with the stage named.
        self.parent_id = parent_id
        self._stage: dict[str, Any] | None = None

    # -------------------------------------------------------------------------- engine side
    def report(self, progress: Progress) -> None:
        data = progress.as_dict()
        self._progress = data
        self.event("progress", data, step=progress.step)
        if progress.step >= progress.total_steps:
            self.sync()

    def phase(self, phase: str, done: int, total: int) -> None:
        """Progress of work done in phases of known length (``StageProgress``: a downstream
        model's patches, training steps, scoring); raises ``JobStopped`` when the job should
        stop, since such work has no other place to ask."""
        data = {"phase": phase, "step": done, "total_steps": total}
        self._progress = data
        self.event("progress", data)
        if done >= total:
            self.sync()
        if self.should_stop():
            raise JobStopped(self.stop_reason or "stopped")

    def event(self, kind: str, data: dict[str, Any], step: int | None = None) -> None:
        if self.writer:
            self._pending.append(JobEvent(organization_id=self.organization_id,
                                          job_id=self.job_id, kind=kind, step=step, data=data))

    def should_stop(self) -> bool:
        if self.stop_reason is None and os.getppid() != self.parent_pid:
            self.stop_reason = "the worker that started this process is gone"
        if self.stop_reason is None and time.monotonic() - self._last_sync >= self.flush_seconds:
            try:
                self.sync()
            except SQLAlchemyError:  # the database blinked: keep the reports, train on
                log.exception("job %s: progress not written; trying again", self.job_id)
        return self.stop_reason is not None

    # ------------------------------------------------------------------------ database side
    def sync(self) -> None:
        """Write what is buffered; read whether to stop (cancel requested, lease lost)."""
        self._last_sync = time.monotonic()
        progress = self._progress
        with session_scope(self.factory) as session:
            if self.writer and (self._pending or progress is not None):
                session.add_all(self._pending)
                values: dict[str, Any] = {"updated_at": utcnow()}
                if progress is not None:
                    values["progress"] = progress
                session.execute(update(Job).where(Job.id == self.job_id,
                                                  Job.lease_owner == self.owner).values(**values))
            row = session.execute(select(Job.cancel_requested, Job.lease_owner)
                                  .where(Job.id == self.job_id)).first()
        self._pending, self._progress = [], None
        if self.writer and self.parent_id is not None and progress is not None:
            # A transaction of its own: a cancel locks the pipeline before its stages, so
            # holding the stage's row while waiting for the pipeline's could deadlock.
            with session_scope(self.factory) as session:
                self._show_on_pipeline(session, progress)
        if row is None:
            self.stop_reason = "the job was deleted"
        elif row.lease_owner != self.owner:
            self.stop_reason = "another worker holds the job now"
        elif row.cancel_requested:
            self.stop_reason = "cancelled"

    def _show_on_pipeline(self, session: Session, progress: dict[str, Any]) -> None:
        if self._stage is None:  # "stage", "stage_number", "stages", set when it started
            parent = session.scalar(select(Job.progress).where(Job.id == self.parent_id)) or {}
            self._stage = {key: parent[key] for key in ("stage", "stage_number", "stages")
                           if key in parent}
        session.execute(update(Job).where(Job.id == self.parent_id,
                                          Job.status == JobStatus.running)
                        .values(progress={**progress, **self._stage}))

    @property
    def cancelled(self) -> bool:
        return self.stop_reason == "cancelled"

    def forget_progress_after(self, step: int) -> None:
        """On resume: drop reports past the checkpoint, so the curve continues from it."""
        with session_scope(self.factory) as session:
            session.execute(delete(JobEvent).where(
                JobEvent.job_id == self.job_id, JobEvent.kind == "progress",
                JobEvent.step > step))
