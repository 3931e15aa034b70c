"""Submitting, cancelling and retrying jobs; reading their progress and metrics."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from api.db import utcnow
from api.jobs import submission
from api.jobs.dispatch import Dispatcher
from api.jobs.kinds import queue_for, validate_config
from api.jobs.metrics import numeric_metrics
from api.jobs.models import ACTIVE, TERMINAL, Job, JobEvent, JobStatus
from api.jobs.repository import JobEvents, Jobs
from api.jobs.schemas import JobCreate
from api.problems import Conflict
from api.quotas import check_job_quotas
from api.tenancy import Tenant


def add_event(session: Session, job: Job, kind: str, data: dict[str, Any],
              step: int | None = None) -> None:
    session.add(JobEvent(organization_id=job.organization_id, job_id=job.id, kind=kind,
                         step=step, data=data))


def submit(session: Session, tenant: Tenant, dispatcher: Dispatcher, project_id: uuid.UUID,
           body: JobCreate, max_queued: int) -> Job:
    """Check, record and announce a job: the project and every input id must be the caller's
    own (else 404 like any foreign id), the quotas must allow it (``api.jobs.submission``)."""
    config = validate_config(body.kind, body.inputs, body.config)
    now = utcnow()
    job = submission.record(session, {
        "id": uuid.uuid4(), "organization_id": tenant.organization_id,
        "project_id": project_id, "kind": body.kind, "name": body.name,
        "priority": body.priority, "gpus": body.gpus, "queue": queue_for(body.kind, body.gpus),
        "config": config, "inputs": {name: str(value) for name, value in body.inputs.items()},
        "dataset_version_id": body.inputs.get("dataset_version_id"),
        "created_by_user_id": tenant.principal.user_id,
        "created_at": now, "updated_at": now, "queued_at": now}, max_queued)
    dispatcher.enqueue(job.id, job.queue, job.priority)  # committed: the worker finds the row
    return job


def cancel(session: Session, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """Queued jobs stop at once; running ones see the flag within a second (the worker ends
    a job that does not stop after a grace period); a pipeline cancels its stages."""
    # Locked (Postgres) so a worker's claim or a pipeline's last step cannot slip in between
    # reading the status and writing the cancel.
    job = Jobs(session, tenant).get(job_id, for_update=True)
    if job.status in TERMINAL:
        raise Conflict(f"job {job_id} already {job.status.value}")
    children = session.scalars(Jobs(session, tenant).select().where(
        Job.parent_id == job.id, Job.status.in_(ACTIVE)).with_for_update())
    for row in (job, *children):
        _request_cancel(session, row)
    return job


def _request_cancel(session: Session, job: Job) -> None:
    job.cancel_requested = True
    job.updated_at = utcnow()
    # A pipeline holds no worker while its stages run: it ends at once (its running stage
    # sees its own flag).
    if job.status == JobStatus.queued or (job.kind == "pipeline" and job.lease_owner is None):
        job.status = JobStatus.cancelled
        job.finished_at = utcnow()
        add_event(session, job, "status", {"status": JobStatus.cancelled.value})


def retry(session: Session, tenant: Tenant, dispatcher: Dispatcher, job_id: uuid.UUID,
          max_queued: int) -> Job:
    job = Jobs(session, tenant).get(job_id)
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise Conflict(f"only failed or cancelled jobs are retried; job {job_id} is "
                       f"{job.status.value}")
    check_job_quotas(session, tenant.organization_id, max_queued)
    job.status = JobStatus.queued
    job.cancel_requested = False
    job.error = ""
    job.finished_at = None
    job.updated_at = job.queued_at = utcnow()
    add_event(session, job, "status", {"status": JobStatus.queued.value, "retry": True})
    session.commit()
    dispatcher.enqueue(job.id, job.queue, job.priority)
    return job


def events(session: Session, tenant: Tenant, job_id: uuid.UUID, kind: str | None = None,
           limit: int = 1000) -> list[JobEvent]:
    Jobs(session, tenant).require(job_id)
    query = JobEvents(session, tenant).select().where(JobEvent.job_id == job_id)
    if kind:
        query = query.where(JobEvent.kind == kind)
    return list(session.scalars(query.order_by(JobEvent.created_at).limit(limit)))


def metric_series(session: Session, tenant: Tenant, job_id: uuid.UUID
                  ) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for event in events(session, tenant, job_id, limit=1_000_000):
        if event.kind not in ("progress", "metrics") or event.step is None:
            continue
        for name, value in numeric_metrics(event.data).items():
            if name.rsplit(".", 1)[-1] != "step":  # the x axis, not a series
                series.setdefault(name, []).append((event.step, value))
    return series


def latest_change(session: Session, tenant: Tenant, job_id: uuid.UUID) -> Job:
    session.expire_all()
    return session.scalar(Jobs(session, tenant).select().where(Job.id == job_id))
