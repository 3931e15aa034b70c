"""Pipelines: stages as child jobs, advanced one step whenever something changes.

A pipeline job holds no worker while its stages run. ``advance`` is called when the pipeline
is claimed (submit or retry) and whenever one of its stages ends; it looks at the stages in
order and does the one thing due: start the next stage as a child job, wait, end the
pipeline (a stage failed or was cancelled), or — every stage done — register the pretrained
backbone as a new model version with the evaluation's metrics. Retrying a failed pipeline
re-queues only its failed or cancelled stage; finished stages keep their artifacts and are
skipped, and a retried pretrain resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import session_scope, utcnow
from api.jobs.dispatch import Dispatcher
from api.jobs.kinds import queue_for
from api.jobs.metrics import numeric_metrics
from api.jobs.models import ACTIVE, Job, JobStatus
from api.jobs.service import add_event
from api.registry.models import RegisteredModel
from api.registry.service import register_job
from api.tenancy import Principal, Tenant
from api.tenants.models import Role
from engine.schemas.pipeline import PIPELINE_STAGES

log = logging.getLogger("hatchery.worker.pipeline")


def _stage_config(pipeline: Job, stage: str, children: dict[str, Job]) -> dict[str, Any] | None:
    """The child job's config of ``stage``, or None when the pipeline skips it."""
    config = pipeline.config.get(stage)
    if config is None:
        return None
    if stage == "evaluate":
        return {**config, "checkpoint": f"job://{children['pretrain'].id}"}
    return dict(config)


def _finish(session: Session, pipeline: Job, status: JobStatus, error: str = "",
            result: dict[str, Any] | None = None) -> None:
    pipeline.status, pipeline.error = status, error
    pipeline.finished_at = pipeline.updated_at = utcnow()
    pipeline.lease_owner = pipeline.lease_expires_at = None
    if result is not None:
        pipeline.result = result
    add_event(session, pipeline, "status",
              {"status": status.value, **({"error": error} if error else {})})


def _start_stage(session: Session, pipeline: Job, stage: str, config: dict[str, Any]) -> Job:
    now = utcnow()
    child = Job(organization_id=pipeline.organization_id, project_id=pipeline.project_id,
                kind=stage, name=f"{pipeline.name or 'pipeline'} / {stage}",
                priority=pipeline.priority, gpus=pipeline.gpus,
                queue=queue_for(stage, pipeline.gpus), config=config, inputs={},
                dataset_version_id=pipeline.dataset_version_id, parent_id=pipeline.id,
                created_by_user_id=pipeline.created_by_user_id, queued_at=now, updated_at=now)
    session.add(child)
    session.flush()
    add_event(session, child, "status",
              {"status": JobStatus.queued.value, "pipeline": str(pipeline.id)})
    return child


def _requeue_stage(session: Session, child: Job) -> None:
    child.status, child.error, child.cancel_requested = JobStatus.queued, "", False
    child.finished_at = None
    child.queued_at = child.updated_at = utcnow()
    add_event(session, child, "status", {"status": JobStatus.queued.value, "retry": True})


def _register(session: Session, pipeline: Job, children: dict[str, Job]) -> dict[str, Any]:
    tenant = Tenant(pipeline.organization_id, Role.owner,
                    Principal(user_id=pipeline.created_by_user_id))
    name = pipeline.config.get("model_name") or "pretrained backbone"
    model = session.scalar(select(RegisteredModel).where(
        RegisteredModel.organization_id == pipeline.organization_id,
        RegisteredModel.project_id == pipeline.project_id, RegisteredModel.name == name))
    if model is None:
        model = RegisteredModel(organization_id=pipeline.organization_id,
                                project_id=pipeline.project_id, name=name,
                                description="pretrained by a pipeline")
        session.add(model)
        session.flush()
    evaluation = children.get("evaluate")
    extra = numeric_metrics(evaluation.result.get("metrics", {})) if evaluation else {}
    version = register_job(session, tenant, model, children["pretrain"], extra)
    session.flush()
    return {"model_id": str(model.id), "model_version_id": str(version.id),
            "version": version.version, "metrics": version.metrics,
            "stages": {stage: str(child.id) for stage, child in children.items()}}


def advance(factory: sessionmaker[Session], dispatcher: Dispatcher, pipeline_id: uuid.UUID,
            retrying: bool = False) -> JobStatus:
    """Do what is due for the pipeline; returns its status afterwards. ``retrying``: the
    pipeline was just claimed, so stages that failed or were cancelled run again."""
    to_announce: list[Job] = []
    with session_scope(factory) as session:
        pipeline = session.scalar(select(Job).where(Job.id == pipeline_id).with_for_update())
        if pipeline is None or pipeline.status != JobStatus.running:
            return pipeline.status if pipeline else JobStatus.failed
        pipeline.lease_owner = pipeline.lease_expires_at = None  # holds no worker while waiting
        pipeline.updated_at = utcnow()
        children: dict[str, Job] = {}
        for child in session.scalars(select(Job).where(Job.parent_id == pipeline.id)
                                     .order_by(Job.created_at)):
            children[child.kind] = child
        if pipeline.cancel_requested:
            _finish(session, pipeline, JobStatus.cancelled)
            return pipeline.status
        for stage in PIPELINE_STAGES:
            config = _stage_config(pipeline, stage, children)
            if config is None:
                continue
            child = children.get(stage)
            if child is None:
                to_announce.append(_start_stage(session, pipeline, stage, config))
                break
            if child.status in (JobStatus.failed, JobStatus.cancelled) and retrying:
                _requeue_stage(session, child)
                to_announce.append(child)
                break
            if child.status in ACTIVE:
                break
            if child.status == JobStatus.failed:
                reason = child.error.splitlines()[0] if child.error else "no reason given"
                _finish(session, pipeline, JobStatus.failed, f"stage {stage} failed: {reason}")
                break
            if child.status == JobStatus.cancelled:
                _finish(session, pipeline, JobStatus.cancelled)
                break
        else:
            try:
                _finish(session, pipeline, JobStatus.succeeded,
                        result=_register(session, pipeline, children))
            except Exception as error:  # a registration that cannot happen fails the job
                log.exception("pipeline %s: registration failed", pipeline.id)
                _finish(session, pipeline, JobStatus.failed, f"registration failed: {error}")
        status = pipeline.status
        announce = [(child.id, child.queue, child.priority) for child in to_announce]
    for job_id, queue, priority in announce:
        dispatcher.enqueue(job_id, queue, priority)
    return status


def stalled(factory: sessionmaker[Session], grace_seconds: float = 30.0) -> list[uuid.UUID]:
    """Running pipelines that hold no worker and have no stage queued or running, untouched
    for ``grace_seconds``: a worker died between a stage's end and the pipeline's next step
    (the grace keeps housekeeping from racing a worker that is taking that step now).
    ``advance`` picks them up."""
    parent = Job.__table__.alias("parent")
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    with session_scope(factory) as session:
        busy_stage = select(Job.id).where(
            Job.parent_id == parent.c.id,
            or_(Job.status.in_(ACTIVE), Job.finished_at > cutoff))
        return list(session.scalars(
            select(parent.c.id).where(parent.c.kind == "pipeline",
                                      parent.c.status == JobStatus.running,
                                      parent.c.lease_owner.is_(None),
                                      parent.c.updated_at < cutoff, ~busy_stage.exists())))
