"""The scheduler's claims on a real database: fairness, quotas, priorities, leases."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from api.kit.db import utcnow
from api.models.jobs import Job, JobEvent, JobStatus
from tests.integration.conftest import organization
from worker.scheduler import claim_next, renew_lease, requeue_lapsed, waiting_queues


def queue_jobs(factory, org: tuple[uuid.UUID, uuid.UUID], count: int, priority: int = 0,
               queue: str = "gpu.any") -> list[uuid.UUID]:
    ids = []
    with factory() as session:
        for _ in range(count):
            now = utcnow()
            job = Job(organization_id=org[0], project_id=org[1], kind="probe", priority=priority,
                      queue=queue, queued_at=now, updated_at=now)
            session.add(job)
            session.flush()
            ids.append(job.id)
            time.sleep(0.002)  # distinct queue times
        session.commit()
    return ids


def finish(factory, job_id: uuid.UUID) -> None:
    with factory() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            status=JobStatus.succeeded, lease_owner=None, lease_expires_at=None))
        session.commit()


def test_a_single_job_of_one_organization_is_not_starved_by_another_s_hundred(factory):
    busy, small = organization(factory), organization(factory)
    many = queue_jobs(factory, busy, 100)
    single = queue_jobs(factory, small, 1)
    first = claim_next(factory, "gpu.any", "w1", 30)
    second = claim_next(factory, "gpu.any", "w2", 30)
    # The busy organization queued first, so it starts first; the next free worker takes the
    # other organization's job, not the busy one's 2nd of 100.
    assert first.job_id == many[0] and second.job_id == single[0]
    finish(factory, first.job_id)
    assert claim_next(factory, "gpu.any", "w1", 30).job_id == many[1]


def test_concurrency_quota_holds_jobs_back_and_priorities_order_an_organization(factory):
    org = organization(factory, concurrent_jobs=1)
    low = queue_jobs(factory, org, 1, priority=0)
    high = queue_jobs(factory, org, 1, priority=5)
    claim = claim_next(factory, "gpu.any", "w1", 30)
    assert claim.job_id == high[0] and claim.attempt == 1
    assert claim_next(factory, "gpu.any", "w2", 30) is None  # quota 1: the other waits
    assert "gpu.any" not in waiting_queues(factory)  # held back: nothing to announce
    finish(factory, high[0])
    assert waiting_queues(factory) == {"gpu.any": low[0]}
    assert claim_next(factory, "gpu.any", "w2", 30).job_id == low[0]


def test_a_job_is_claimed_once_and_a_lapsed_lease_goes_back_to_the_queue(factory):
    org = organization(factory)
    [job_id] = queue_jobs(factory, org, 1, queue="cpu")
    assert claim_next(factory, "gpu.any", "w1", 30) is None  # another queue
    assert claim_next(factory, "cpu", "w1", 30).job_id == job_id
    assert claim_next(factory, "cpu", "w2", 30) is None  # a duplicate message finds nothing
    assert renew_lease(factory, job_id, "w1", 30) and not renew_lease(factory, job_id, "w2", 30)
    assert requeue_lapsed(factory) == []
    with factory() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert requeue_lapsed(factory) == [(job_id, "cpu")]
    assert not renew_lease(factory, job_id, "w1", 30)  # the old holder must stop
    claim = claim_next(factory, "cpu", "w2", 30)
    assert claim.job_id == job_id and claim.attempt == 2
    with factory() as session:
        statuses = [e.data["status"] for e in session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.created_at))]
    assert statuses == ["running", "queued", "running"]
