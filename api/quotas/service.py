"""Per-organization quotas: storage, images per dataset, concurrent jobs, GPU-hours/month.

A request that would go over answers 429 (or 403 for the monthly GPU budget) with a
problem+json whose ``quota`` member names the quota. ``concurrent_jobs`` bounds how many of
an organization's jobs run at once: the scheduler (worker/scheduler.py) holds the rest in the
queue. Submitting is refused only past ``max_queued_jobs`` waiting or running jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Uuid,
    and_,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import Session

from api.kit.db import UTCDateTime
from api.kit.problems import Problem, QuotaExceeded
from api.models.datasets import Blob
from api.models.jobs import ACTIVE, Job, JobStatus
from api.models.tenants import Organization
from api.quotas.schemas import QuotaOut


def month_start() -> datetime:
    now = datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# The organization and the month start below are values or bind parameters (job_quota_query).
def _jobs_in(organization_id: uuid.UUID | BindParameter, statuses) -> Select:
    return select(Job.id).where(Job.organization_id == organization_id,
                                Job.status.in_(statuses), Job.parent_id.is_(None))


def _gpu_seconds_since(organization_id: uuid.UUID | BindParameter,
                       since: datetime | BindParameter) -> Select:
    """GPU time of the jobs that started since ``since`` (queued jobs have used none)."""
    return select(func.coalesce(func.sum(Job.gpu_seconds), 0.0)).where(
        Job.organization_id == organization_id, Job.started_at >= since)


def stored_bytes(session: Session, organization_id: uuid.UUID) -> int:
    """What the organization keeps in the object store: its images and its jobs' artifacts
    (checkpoints, configs, metrics)."""
    images = select(func.coalesce(func.sum(Blob.size), 0)).where(
        Blob.organization_id == organization_id).scalar_subquery()
    artifacts = select(func.coalesce(func.sum(Job.artifact_bytes), 0)).where(
        Job.organization_id == organization_id).scalar_subquery()
    return int(session.scalar(select(images + artifacts)))


def usage(session: Session, organization_id: uuid.UUID) -> QuotaOut:
    organization = session.get(Organization, organization_id)
    storage = stored_bytes(session, organization_id)
    running, queued = (session.scalar(select(func.count()).select_from(
        _jobs_in(organization_id, [status]).subquery()))
        for status in (JobStatus.running, JobStatus.queued))
    gpu_seconds = session.scalar(_gpu_seconds_since(organization_id, month_start()))
    return QuotaOut(
        storage_bytes=int(storage), storage_bytes_quota=organization.storage_bytes_quota,
        images_per_dataset_quota=organization.images_per_dataset_quota,
        running_jobs=int(running), queued_jobs=int(queued),
        concurrent_jobs_quota=organization.concurrent_jobs_quota,
        gpu_hours_this_month=round(float(gpu_seconds or 0.0) / 3600, 3),
        gpu_hours_per_month_quota=organization.gpu_hours_per_month_quota)


@dataclass(frozen=True)
class JobQuotaState:
    """What the job quotas are measured against, read in one round trip."""

    gpu_hours_quota: float
    active_jobs: int
    gpu_seconds_used: float

    def check(self, max_queued: int) -> None:
        """429 when ``max_queued`` jobs wait or run, 403 when this month's GPU hours are
        used up."""
        if self.active_jobs >= max_queued:
            raise QuotaExceeded(
                f"quota queued_jobs ({max_queued}) reached: wait for jobs to finish or cancel "
                "some", quota="queued_jobs", limit=max_queued)
        if self.gpu_seconds_used / 3600 >= self.gpu_hours_quota:
            raise Problem(
                f"quota gpu_hours_per_month ({self.gpu_hours_quota:g}) is used up for this "
                "month", status=403, title="Quota exceeded", slug="quota-exceeded",
                quota="gpu_hours_per_month", limit=self.gpu_hours_quota)


@cache
def job_quota_query() -> Select:
    """One row: the GPU-hour quota, the active jobs (counted up to ``max_queued`` only, so
    the check costs the same however many jobs wait) and this month's GPU seconds. Bound
    by ``job_quota_params``; built once (building costs more than running it). Callers may
    add columns bound by the same ``organization_id`` to read more in the same round trip."""
    organization = bindparam("organization_id", type_=Uuid)
    active = select(func.count()).select_from(
        _jobs_in(organization, ACTIVE).limit(bindparam("max_queued", type_=Integer))
        .subquery()).scalar_subquery()
    gpu_seconds = _gpu_seconds_since(
        organization, bindparam("month_start", type_=UTCDateTime)).scalar_subquery()
    return (select(Organization.gpu_hours_per_month_quota.label("gpu_hours_quota"),
                   active.label("active_jobs"), gpu_seconds.label("gpu_seconds_used"))
            .where(Organization.id == organization))


def job_quotas_allow(row: Any) -> ColumnElement[bool]:
    """``JobQuotaState.check``'s rule in SQL, over the columns of a ``job_quota_query`` row
    (``row`` is the ``.c`` of a subquery or CTE of it): true when one more job fits."""
    return and_(row.active_jobs < bindparam("max_queued", type_=Integer),
                row.gpu_seconds_used / 3600 < row.gpu_hours_quota)


def job_quota_params(organization_id: uuid.UUID, max_queued: int) -> dict[str, Any]:
    return {"organization_id": organization_id, "max_queued": max_queued,
            "month_start": month_start()}


def job_quota_state(row: Sequence) -> JobQuotaState:
    """The state from the first three columns of a ``job_quota_query`` row."""
    return JobQuotaState(float(row[0]), int(row[1]), float(row[2]))


def check_job_quotas(session: Session, organization_id: uuid.UUID, max_queued: int) -> None:
    """Refuse one more job over the quotas (``JobQuotaState.check``); one round trip."""
    row = session.execute(job_quota_query(),
                          job_quota_params(organization_id, max_queued)).one()
    job_quota_state(row).check(max_queued)
