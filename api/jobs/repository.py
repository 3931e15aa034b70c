from __future__ import annotations

import uuid

from api.kit.pagination import Page, PageParams
from api.models.jobs import ACTIVE, Job, JobEvent, JobStatus
from api.tenancy import TenantRepository


class Jobs(TenantRepository[Job]):
    model, noun = Job, "job"

    def in_project(self, project_id: uuid.UUID, params: PageParams,
                   status: JobStatus | None = None, kind: str | None = None,
                   model_job_id: uuid.UUID | None = None) -> Page:
        """The project's jobs, newest first, optionally of one status and kind, and only
        those reading ``model_job_id``'s model (``config.model`` = job://<id>)."""
        query = self.select().where(Job.project_id == project_id)
        if status is not None:
            query = query.where(Job.status == status)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if model_job_id is not None:
            query = query.where(Job.config["model"].as_string() == f"job://{model_job_id}")
        return self.page(query.order_by(Job.created_at.desc()), params)

    def evaluations_of(self, job_id: uuid.UUID, kinds: tuple[str, ...]) -> list[Job]:
        """Succeeded jobs of ``kinds`` that scored ``job_id``'s checkpoint
        (``config.checkpoint`` = job://<id>), oldest first."""
        reference = f"job://{job_id}"
        return list(self.session.scalars(self.select().where(
            Job.status == JobStatus.succeeded, Job.kind.in_(kinds),
            Job.config["checkpoint"].as_string() == reference).order_by(Job.finished_at)))

    def active_stages_of(self, pipeline_id: uuid.UUID) -> list[Job]:
        """A pipeline's queued or running stages, locked until the commit (Postgres)."""
        return list(self.session.scalars(self.select().where(
            Job.parent_id == pipeline_id, Job.status.in_(ACTIVE)).with_for_update()))

    def stages_of(self, pipeline_id: uuid.UUID) -> list[Job]:
        """A pipeline's stage jobs, in the order they started."""
        return list(self.session.scalars(self.select().where(Job.parent_id == pipeline_id)
                                         .order_by(Job.created_at)))


class JobEvents(TenantRepository[JobEvent]):
    model, noun = JobEvent, "job event"

    def of_job(self, job_id: uuid.UUID, kind: str | None = None,
               limit: int = 1000) -> list[JobEvent]:
        """The job's events in the order they happened, optionally of one kind."""
        query = self.select().where(JobEvent.job_id == job_id)
        if kind:
            query = query.where(JobEvent.kind == kind)
        return list(self.session.scalars(query.order_by(JobEvent.created_at).limit(limit)))
