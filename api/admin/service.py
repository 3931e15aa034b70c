"""What the admin page shows: queues, workers and their GPUs, GPU-hours per organization."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from api.admin.schemas import OrganizationUsageOut, QueueOut, WorkerOut
from api.kit.db import utcnow
from api.models.jobs import ACTIVE, Job, JobStatus, Worker, holding_a_worker
from api.models.tenants import Organization
from api.quotas.service import month_start


def queues(session: Session) -> list[QueueOut]:
    """Depth and oldest wait of every queue that has work (pipelines waiting on their stages
    hold no worker and are not counted as running)."""
    now = utcnow()
    rows = session.execute(
        select(Job.queue,
               func.count().filter(Job.status == JobStatus.queued),
               func.count().filter(holding_a_worker()),
               func.min(case((Job.status == JobStatus.queued, Job.queued_at))))
        .where(Job.status.in_(ACTIVE)).group_by(Job.queue).order_by(Job.queue)).all()
    return [QueueOut(queue=queue, queued=queued, running=running,
                     oldest_wait_seconds=round((now - oldest).total_seconds(), 3)
                     if oldest else None)
            for queue, queued, running, oldest in rows]


def workers(session: Session, offline_after_seconds: float) -> list[WorkerOut]:
    """Workers seen within the last hour; ``online`` when seen within ``offline_after``."""
    now = utcnow()
    rows = session.scalars(select(Worker).where(Worker.last_seen_at >= now - timedelta(hours=1))
                           .order_by(Worker.name))
    return [WorkerOut.model_validate({
        **{column: getattr(row, column) for column in (
            "name", "hostname", "pid", "queues", "devices", "current_job_id", "started_at",
            "last_seen_at")},
        "online": (now - row.last_seen_at).total_seconds() <= offline_after_seconds})
        for row in rows]


def organization_usage(session: Session) -> list[OrganizationUsageOut]:
    """GPU-hours this month and running/queued jobs of every organization that used any."""
    started_this_month = Job.started_at >= month_start()
    rows = session.execute(
        select(Organization.id, Organization.name,
               func.coalesce(func.sum(case((started_this_month, Job.gpu_seconds), else_=0.0)),
                             0.0),
               func.count(Job.id).filter(holding_a_worker()),
               func.count(Job.id).filter(Job.status == JobStatus.queued))
        .join(Job, Job.organization_id == Organization.id)
        .group_by(Organization.id, Organization.name)
        .order_by(Organization.name)).all()
    return [OrganizationUsageOut(organization_id=org_id, name=name,
                                 gpu_hours_this_month=round(float(seconds) / 3600, 4),
                                 running_jobs=running, queued_jobs=queued)
            for org_id, name, seconds, running, queued in rows]
