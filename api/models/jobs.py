"""Jobs (pretrain, evaluate, and the kinds to come) and their progress/metric events."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, Enum, ForeignKey, Index, String, Text, and_
from sqlalchemy.orm import Mapped, mapped_column

from api.kit.db import Base, TenantMixin


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})
ACTIVE = frozenset({JobStatus.queued, JobStatus.running})


class Job(TenantMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_org_status", "organization_id", "status"),
                      Index("ix_jobs_org_started", "organization_id", "started_at"),
                      Index("ix_jobs_queue_status", "queue", "status"))

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                                  index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.queued)
    priority: Mapped[int] = mapped_column(default=0)
    config: Mapped[dict] = mapped_column(default=dict)
    inputs: Mapped[dict] = mapped_column(default=dict)
    dataset_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), default=None)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), default=None, index=True)
    gpus: Mapped[int] = mapped_column(default=1)
    queue: Mapped[str] = mapped_column(String(64), default="gpu.any")
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    progress: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict] = mapped_column(default=dict)
    artifacts: Mapped[dict] = mapped_column(default=dict)
    # what the artifacts take in the object store (counted in the organization's storage)
    artifact_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    gpu_seconds: Mapped[float] = mapped_column(default=0.0)
    # When the job last entered ``queued`` (submit, retry, re-queue after a lost worker).
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    # The worker holding the job while it runs; the lease lapses unless heartbeats renew it.
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)


def holding_a_worker() -> ColumnElement[bool]:
    """Running under a lease: a job that occupies a worker (a pipeline waiting on its stages
    occupies none)."""
    return and_(Job.status == JobStatus.running, Job.lease_owner.is_not(None))


class Worker(Base):
    """A worker process as it last reported itself (platform-wide, not tenant data)."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    queues: Mapped[list] = mapped_column(default=list)
    # {"kind": "cuda"|"cpu", "name", "memory_used_bytes", "memory_total_bytes", "utilization"}
    devices: Mapped[list] = mapped_column(default=list)
    current_job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class JobEvent(TenantMixin, Base):
    """One progress report, metric record or status change, in order of ``id`` time."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_created", "job_id", "created_at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # progress | metrics | status | log
    step: Mapped[int | None] = mapped_column(default=None)
    data: Mapped[dict] = mapped_column(default=dict)
