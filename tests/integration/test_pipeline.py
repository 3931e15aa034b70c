"""Pipelines advance stage by stage; a retry re-runs only what failed."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from api.kit.db import utcnow
from api.kit.dispatch import RecordingDispatcher
from api.models.jobs import Job, JobStatus
from api.models.registry import ModelVersion
from tests.integration.conftest import organization
from worker import pipeline
from worker.scheduler import claim_next

CONFIG = {"pretrain": {"data": {"path": "dataset-version://x"}, "steps": 2},
          "evaluate": {"train": "dataset-version://t", "test": "dataset-version://v"},
          "model_name": "castings"}


def submit_pipeline(factory, org) -> uuid.UUID:
    with factory() as session:
        now = utcnow()
        job = Job(organization_id=org[0], project_id=org[1], kind="pipeline", name="p",
                  queue="cpu", config=CONFIG, queued_at=now, updated_at=now)
        session.add(job)
        session.commit()
        return job.id


def stages(factory, pipeline_id) -> dict[str, Job]:
    with factory() as session:
        return {job.kind: job for job in session.scalars(
            select(Job).where(Job.parent_id == pipeline_id).order_by(Job.created_at))}


def end_stage(factory, job_id, status: JobStatus, **values) -> None:
    with factory() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            status=status, lease_owner=None, finished_at=utcnow(), **values))
        session.commit()


def status_of(factory, job_id) -> JobStatus:
    with factory() as session:
        return session.get(Job, job_id).status


def test_a_retried_pipeline_skips_finished_stages_and_registers_the_model(factory):
    org = organization(factory)
    dispatcher = RecordingDispatcher()
    pipeline_id = submit_pipeline(factory, org)
    claim = claim_next(factory, "cpu", "w1", 30)
    assert claim.job_id == pipeline_id
    pipeline.advance(factory, dispatcher, pipeline_id, retrying=True)
    pretrain = stages(factory, pipeline_id)["pretrain"]
    assert dispatcher.sent[-1][:2] == (pretrain.id, "gpu.any")
    assert pretrain.config["steps"] == 2 and pretrain.status == JobStatus.queued

    end_stage(factory, pretrain.id, JobStatus.succeeded,
              artifacts={"checkpoint": {"key": "org/jobs/x/checkpoint.pt", "step": 2}},
              result={"metrics": {"loss": 1.5}})
    pipeline.advance(factory, dispatcher, pipeline_id)
    evaluate = stages(factory, pipeline_id)["evaluate"]
    assert evaluate.config["checkpoint"] == f"job://{pretrain.id}"
    end_stage(factory, evaluate.id, JobStatus.failed, error="ValueError: bad labels\nmore")
    assert pipeline.advance(factory, dispatcher, pipeline_id) == JobStatus.failed
    with factory() as session:
        error = session.get(Job, pipeline_id).error
    assert error == "stage evaluate failed: ValueError: bad labels"

    # Retry: the pipeline goes back to the queue; when claimed, only the failed stage reruns.
    with factory() as session:
        session.execute(update(Job).where(Job.id == pipeline_id).values(
            status=JobStatus.queued, queued_at=utcnow(), error=""))
        session.commit()
    assert claim_next(factory, "cpu", "w2", 30).job_id == pipeline_id
    pipeline.advance(factory, dispatcher, pipeline_id, retrying=True)
    again = stages(factory, pipeline_id)
    assert again["pretrain"].id == pretrain.id and again["pretrain"].status == JobStatus.succeeded
    assert again["evaluate"].id == evaluate.id and again["evaluate"].status == JobStatus.queued
    assert len(dispatcher.sent) == 3  # pretrain, evaluate, evaluate again: no new pretrain

    end_stage(factory, evaluate.id, JobStatus.succeeded,
              result={"metrics": {"knn": {"k=20": {"balanced_accuracy": 0.8}}}})
    # The worker that ran the stage died before advancing: housekeeping finds it stalled.
    assert pipeline.stalled(factory, grace_seconds=30) == []  # its stage just ended
    assert pipeline.stalled(factory, grace_seconds=0) == [pipeline_id]
    assert pipeline.advance(factory, dispatcher, pipeline_id) == JobStatus.succeeded
    with factory() as session:
        done = session.get(Job, pipeline_id)
        version = session.get(ModelVersion, uuid.UUID(done.result["model_version_id"]))
    assert version.job_id == pretrain.id and version.version == 1
    assert version.metrics == {"loss": 1.5, "knn.k=20.balanced_accuracy": 0.8}
    assert version.artifacts == {"checkpoint": "org/jobs/x/checkpoint.pt"}
