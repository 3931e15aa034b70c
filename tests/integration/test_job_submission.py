"""Recording a submitted job (api/jobs/submission.py) on Postgres (one guarded statement) and
SQLite (checks, then writes): the same job on success, the same refusal and nothing written
when a check fails."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, update

from api.jobs import submission
from api.kit.db import utcnow
from api.kit.problems import NotFound, Problem, QuotaExceeded
from api.models.jobs import Job, JobEvent, JobStatus
from tests.integration.conftest import organization
from tests.integration.test_scheduler import queue_jobs


def values(org: tuple[uuid.UUID, uuid.UUID], **inputs: uuid.UUID) -> dict:
    """The columns of a submitted job; its references are passed beside them."""
    now = utcnow()
    return {"id": uuid.uuid4(), "organization_id": org[0], "project_id": org[1],
            "kind": "evaluate", "name": "knn", "priority": 3, "gpus": 0, "queue": "cpu",
            "config": {"k": [20, 200]}, "inputs": {k: str(v) for k, v in inputs.items()},
            "dataset_version_id": None, "created_by_user_id": None,
            "created_at": now, "updated_at": now, "queued_at": now}


def counts(factory) -> tuple[int, int]:
    with factory() as session:
        return (session.scalar(select(func.count()).select_from(Job)),
                session.scalar(select(func.count()).select_from(JobEvent)))


def test_a_job_is_written_with_its_defaults_and_its_queued_event(factory):
    org = organization(factory)
    [source] = queue_jobs(factory, org, 1)
    wanted = values(org, checkpoint_job_id=source)
    with factory() as session:
        job = submission.record(session, wanted, [("job", source)], max_queued=10)
        assert not session.in_transaction()
    assert job.id == wanted["id"] and job.status == JobStatus.queued and job.attempts == 0
    assert job.config == {"k": [20, 200]} and job.progress == {} and job.error == ""
    assert job.created_at == wanted["created_at"] and job.parent_id is None
    with factory() as session:
        stored = session.get(Job, job.id)
        event = session.scalar(select(JobEvent).where(JobEvent.job_id == job.id))
    assert stored.inputs == {"checkpoint_job_id": str(source)} and stored.queue == "cpu"
    assert (event.kind, event.data, event.organization_id) == (
        "status", {"status": "queued"}, org[0])


def test_a_refused_job_writes_nothing_and_names_the_check(factory):
    org, other = organization(factory), organization(factory)
    [theirs] = queue_jobs(factory, other, 1)
    refusals = [
        (values((org[0], other[1])), [], NotFound, f"project {other[1]} not found"),
        (values(org), [("job", theirs)], NotFound, f"job {theirs} not found"),
        (values(org), [("dataset-version", uuid.uuid4())], NotFound, "dataset version"),
    ]
    before = counts(factory)
    for wanted, references, problem, message in refusals:
        with factory() as session, pytest.raises(problem, match=message):
            submission.record(session, wanted, references, max_queued=10)
    assert counts(factory) == before


def test_the_quotas_refuse_past_the_queue_limit_and_the_monthly_gpu_hours(factory):
    org = organization(factory)
    queue_jobs(factory, org, 2)
    before = counts(factory)
    with factory() as session, pytest.raises(QuotaExceeded, match="queued_jobs"):
        submission.record(session, values(org), [], max_queued=2)
    with factory() as session:
        session.execute(update(Job).where(Job.organization_id == org[0]).values(
            started_at=utcnow(), gpu_seconds=10 * 3600))  # the whole monthly quota (10 h)
        session.commit()
    with factory() as session, pytest.raises(Problem, match="gpu_hours_per_month") as refused:
        submission.record(session, values(org), [], max_queued=10)
    assert refused.value.status == 403
    assert counts(factory) == before


def test_a_session_that_already_began_a_transaction_records_within_it(factory):
    org = organization(factory)
    with factory() as session:
        session.scalar(select(func.count()).select_from(Job))  # begins a transaction
        job = submission.record(session, values(org), [], max_queued=10)
        assert not session.in_transaction()
    with factory() as session:
        assert session.get(Job, job.id).status == JobStatus.queued
