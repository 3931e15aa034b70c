"""Which queued job runs next, and who holds it: fair claims, leases, re-queues.

Job state lives in the database; a broker message only says "a job waits on this queue".
The worker that takes a message claims one job in one conditional UPDATE:

- fairness: among the organizations with a job waiting on the queue and a free slot under
  their ``concurrent_jobs_quota``, the one with the fewest running jobs goes first (one
  organization's 100 queued jobs do not starve another's single job); then the job's
  priority, then how long it has waited;
- exclusivity: the UPDATE only succeeds while the job is still ``queued``, so two workers, or
  a message delivered twice, never run a job twice;
- the lease: the claimer owns the job until ``lease_expires_at``; its heartbeats renew it. A
  worker that dies stops renewing, and ``requeue_lapsed`` hands the job back to the queue,
  where the next worker resumes it from its last checkpoint.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ScalarSelect, and_, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.kit.db import session_scope, utcnow
from api.models.jobs import Job, JobEvent, JobStatus, holding_a_worker
from api.models.tenants import Organization

CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    job_id: uuid.UUID
    organization_id: uuid.UUID
    kind: str
    attempt: int


def _status_event(session: Session, organization_id: uuid.UUID, job_id: uuid.UUID,
                  status: JobStatus, **details) -> None:
    session.add(JobEvent(organization_id=organization_id, job_id=job_id, kind="status",
                         data={"status": status.value, **details}))


def _running_of(organization_id: uuid.UUID) -> ScalarSelect[int]:
    """Jobs of the organization that hold a worker (pipelines hold none while they wait)."""
    return (select(func.count()).select_from(Job)
            .where(Job.organization_id == organization_id, holding_a_worker())
            .scalar_subquery())


def fair_candidate(session: Session, queue: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(job id, organization id) of the job that should run next on ``queue``, or None."""
    first_of_each = (
        select(Job.id, Job.organization_id, Job.priority, Job.queued_at,
               func.row_number().over(partition_by=Job.organization_id,
                                      order_by=(Job.priority.desc(), Job.queued_at, Job.id))
               .label("place"))
        .where(Job.queue == queue, Job.status == JobStatus.queued,
               Job.cancel_requested.is_(False))
        .subquery())
    running = (select(Job.organization_id, func.count().label("jobs"))
               .where(holding_a_worker())
               .group_by(Job.organization_id).subquery())
    busy = func.coalesce(running.c.jobs, 0)
    row = session.execute(
        select(first_of_each.c.id, first_of_each.c.organization_id)
        .join(Organization, Organization.id == first_of_each.c.organization_id)
        .outerjoin(running, running.c.organization_id == first_of_each.c.organization_id)
        .where(first_of_each.c.place == 1, busy < Organization.concurrent_jobs_quota)
        .order_by(busy, first_of_each.c.priority.desc(), first_of_each.c.queued_at)
        .limit(1)).first()
    return (row[0], row[1]) if row else None


def claim_next(factory: sessionmaker[Session], queue: str, owner: str,
               lease_seconds: float) -> Claim | None:
    """Take the fairest queued job of ``queue`` for ``owner``; None when nothing may run."""
    for _ in range(CLAIM_ATTEMPTS):
        try:
            claim = _claim_once(factory, queue, owner, lease_seconds)
        except OperationalError:  # a lock conflict (e.g. a deadlock victim): look again
            continue
        if claim is not _RETRY:
            return claim
    return None


_RETRY = object()


def _claim_once(factory: sessionmaker[Session], queue: str, owner: str,
                lease_seconds: float) -> Claim | object | None:
    """A claim, None when nothing may run, or ``_RETRY`` when another worker was faster."""
    with session_scope(factory) as session:
        candidate = fair_candidate(session, queue)
        if candidate is None:
            return None
        job_id, organization_id = candidate
        # Claims of one organization go one at a time (a row lock on Postgres; SQLite
        # writes are serial anyway), and the UPDATE re-counts its running jobs, so two
        # workers cannot both take its last free slot.
        session.execute(select(Organization.id).where(Organization.id == organization_id)
                        .with_for_update(key_share=True))
        now = utcnow()
        quota = (select(Organization.concurrent_jobs_quota)
                 .where(Organization.id == organization_id).scalar_subquery())
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.queued,
                   Job.cancel_requested.is_(False), _running_of(organization_id) < quota)
            .values(status=JobStatus.running, lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Job.attempts + 1, updated_at=now,
                    started_at=func.coalesce(Job.started_at, now))
            .returning(Job.kind, Job.attempts)).first()
        if claimed is None:
            return _RETRY  # another worker was faster, or the slot went
        kind, attempt = claimed
        _status_event(session, organization_id, job_id, JobStatus.running, worker=owner,
                      attempt=attempt)
        return Claim(job_id, organization_id, kind, attempt)


@dataclass(frozen=True)
class Heartbeat:
    cancel_requested: bool


def renew_lease(factory: sessionmaker[Session], job_id: uuid.UUID, owner: str,
                lease_seconds: float) -> Heartbeat | None:
    """Extend the lease and read the cancel flag in one statement; None when ``owner`` no
    longer holds the job (it must stop)."""
    with session_scope(factory) as session:
        now = utcnow()
        row = session.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                              Job.status == JobStatus.running)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            .returning(Job.cancel_requested)).first()
        return Heartbeat(bool(row.cancel_requested)) if row else None


def release(factory: sessionmaker[Session], job_id: uuid.UUID, organization_id: uuid.UUID,
            owner: str, status: JobStatus, event: dict | None = None, **values) -> bool:
    """The lease holder ends its hold: the job becomes ``status`` (``queued``: back to the
    queue) with ``values``, and a status event is recorded. False, and nothing written, when
    ``owner`` no longer holds the job."""
    now = utcnow()
    moment = {"queued_at": now} if status == JobStatus.queued else {"finished_at": now}
    with session_scope(factory) as session:
        changed = session.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                              Job.status == JobStatus.running)
            .values(status=status, lease_owner=None, lease_expires_at=None, updated_at=now,
                    **moment, **values))
        if changed.rowcount != 1:
            return False
        _status_event(session, organization_id, job_id, status, **(event or {}))
    return True


def requeue_lapsed(factory: sessionmaker[Session], max_attempts: int = 5
                   ) -> list[tuple[uuid.UUID, str]]:
    """Hand jobs whose worker stopped heartbeating back to their queue. A cancelled job
    ends cancelled; one that has lost its worker ``max_attempts`` times ends failed (it may
    be what kills them).

    Returns (job id, queue) of every re-queued job, so the caller announces them.
    """
    requeued: list[tuple[uuid.UUID, str]] = []
    with session_scope(factory) as session:
        now = utcnow()
        lapsed = session.execute(
            select(Job.id, Job.organization_id, Job.queue, Job.cancel_requested, Job.lease_owner,
                   Job.attempts)
            .where(holding_a_worker(), Job.lease_expires_at < now)).all()
        for job_id, organization_id, queue, cancel_requested, owner, attempts in lapsed:
            reason = f"worker {owner} stopped heartbeating"
            if cancel_requested:
                status = JobStatus.cancelled
            elif attempts >= max_attempts:
                status = JobStatus.failed
                reason += f"; the job lost its worker {attempts} times and is not retried"
            else:
                status = JobStatus.queued
            ended = status != JobStatus.queued
            changed = session.execute(
                update(Job).where(Job.id == job_id, Job.lease_owner == owner,
                                  Job.lease_expires_at < now)
                .values(status=status, lease_owner=None, lease_expires_at=None, updated_at=now,
                        queued_at=Job.queued_at if ended else now,
                        finished_at=now if ended else None,
                        error=reason if status == JobStatus.failed else Job.error))
            if changed.rowcount != 1:
                continue
            _status_event(session, organization_id, job_id, status, reason=reason)
            if status == JobStatus.queued:
                requeued.append((job_id, queue))
    return requeued


def waiting_queues(factory: sessionmaker[Session], older_than_seconds: float = 0.0
                   ) -> dict[str, uuid.UUID]:
    """Queues with a job queued for longer than ``older_than_seconds`` that could start now
    -> the queue's oldest job."""
    with session_scope(factory) as session:
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        oldest = (select(Job.queue, func.min(Job.queued_at).label("since"))
                  .where(Job.status == JobStatus.queued, Job.cancel_requested.is_(False))
                  .group_by(Job.queue).subquery())
        rows = session.execute(
            select(Job.queue, Job.id).join(oldest, and_(oldest.c.queue == Job.queue,
                                                        oldest.c.since == Job.queued_at))
            .where(Job.status == JobStatus.queued, oldest.c.since <= cutoff)).all()
        # Only queues where a job may start now: one held back by its organization's quota
        # is announced when a job of that organization ends.
        return {queue: job_id for queue, job_id in rows
                if fair_candidate(session, queue) is not None}
