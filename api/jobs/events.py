"""Recording a job's events (status changes, progress, metrics, log lines): data layer only,
shared by the API's services and the workers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.models.jobs import Job, JobEvent


def add_event(session: Session, job: Job, kind: str, data: dict[str, Any],
              step: int | None = None) -> None:
    session.add(JobEvent(organization_id=job.organization_id, job_id=job.id, kind=kind,
                         step=step, data=data))
