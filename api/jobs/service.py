"""Submitting, cancelling and retrying jobs; reading their progress and metrics."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from api.jobs import references, submission
from api.jobs.events import add_event
from api.jobs.metrics import numeric_metrics
from api.jobs.repository import JobEvents, Jobs
from api.jobs.schemas import JobCreate
from api.kit.db import utcnow
from api.kit.dispatch import Dispatcher
from api.kit.problems import Conflict, Unprocessable
from api.kit.settings import Settings
from api.models.jobs import TERMINAL, Job, JobEvent, JobStatus
from api.quotas.service import check_job_quotas
from api.tenancy import Tenant
from engine.errors import JobConfigError
from engine.schemas.kinds import KINDS, validate_job
from engine.schemas.runnable import check_job


def gpus_of(body: JobCreate, settings: Settings) -> int:
    """The GPUs a job gets: as asked, or one where the installation has GPU workers."""
    if body.gpus is None:
        return 1 if settings.gpu_workers else 0
    if body.gpus > 0 and not settings.gpu_workers:
        raise Unprocessable("gpus: this installation has no GPU worker; leave gpus out or "
                            "ask for 0 (the job runs on the CPU)")
    return body.gpus


def submit(session: Session, tenant: Tenant, dispatcher: Dispatcher, project_id: uuid.UUID,
           body: JobCreate, settings: Settings) -> Job:
    """Check, record and announce a job.

    The config must validate against its kind's schema and name data only by reference
    (``engine.schemas.kinds``); every resource it references must be the caller's own (else
    404 like any foreign id) and fit the job (``api.jobs.references``); the config must be
    able to run on that data (``engine.schemas.runnable``); the quotas must allow it
    (``api.jobs.submission``). Anything else is a 422 naming the field."""
    gpus = gpus_of(body, settings)
    try:
        validated = validate_job(body.kind, body.inputs, body.config)
        check_job(validated, references.resolve(session, tenant, validated), gpus)
    except JobConfigError as error:
        raise Unprocessable(str(error), errors=[{"field": field, "message": message}
                                                for field, message in error.problems]) from None
    now = utcnow()
    job = submission.record(session, {
        "id": uuid.uuid4(), "organization_id": tenant.organization_id,
        "project_id": project_id, "kind": body.kind, "name": body.name,
        "priority": body.priority, "gpus": gpus,
        "queue": validated.kind.queue_for(gpus), "config": validated.config,
        "inputs": {name: str(value) for name, value in body.inputs.items()},
        "dataset_version_id": validated.reference("dataset_version_id"),
        "created_by_user_id": tenant.principal.user_id,
        "created_at": now, "updated_at": now, "queued_at": now},
        [(ref.scheme, id_) for ref, id_ in validated.references], settings.max_queued_jobs)
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
    for row in (job, *Jobs(session, tenant).active_stages_of(job.id)):
        _request_cancel(session, row)
    return job


def _request_cancel(session: Session, job: Job) -> None:
    job.cancel_requested = True
    job.updated_at = utcnow()
    # A pipeline holds no worker while its stages run: it ends at once (its running stage
    # sees its own flag).
    orchestrates = job.kind in KINDS and KINDS[job.kind].orchestrates
    if job.status == JobStatus.queued or (orchestrates and job.lease_owner is None):
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
    return JobEvents(session, tenant).of_job(job_id, kind, limit)


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
