"""Pipelines: stages as child jobs, advanced one step whenever something changes.

A pipeline job holds no worker while its stages run. ``advance`` is called when the pipeline
is claimed (submit or retry) and whenever one of its stages ends. ``what_is_due`` — a pure
function of the stages' states, tested without a database — names the one thing due: start
the next stage as a child job, re-queue a stage (on retry), wait, end the pipeline (a stage
failed or was cancelled), or, every stage done, register the model the pipeline trained (the
finetuned defect model, or without a finetune stage the pretrained backbone) as a new model
version with the platform's metrics. ``advance`` applies it.

Retrying a failed pipeline re-queues only its failed or cancelled stage; finished stages
keep their artifacts and are skipped, and a retried pretrain resumes from its last
checkpoint. A stage keeps its pipeline's place in the organization's queue.
"""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from api.jobs.events import add_event
from api.kit.db import session_scope, utcnow
from api.kit.dispatch import Dispatcher
from api.models.jobs import ACTIVE, Job, JobStatus
from api.registry.registration import model_named, register_version
from engine.schemas.kinds import JOB_SCHEME, KINDS, reference_to

log = logging.getLogger("hatchery.worker.pipeline")
Action = Literal["start", "requeue", "wait", "fail", "cancel", "register"]


@dataclass(frozen=True)
class StageState:
    status: JobStatus
    error: str = ""


@dataclass(frozen=True)
class Due:
    action: Action
    stage: str | None = None
    reason: str = ""


def what_is_due(stages: list[str], children: dict[str, StageState], cancel_requested: bool,
                retrying: bool) -> Due:
    """The one thing a pipeline should do now. ``stages``: the stages it runs, in order
    (those its config sets up); ``children``: the state of each stage started so far;
    ``retrying``: the pipeline was just claimed, so a failed or cancelled stage runs again."""
    if cancel_requested:
        return Due("cancel")
    for stage in stages:
        child = children.get(stage)
        if child is None:
            return Due("start", stage)
        ended_badly = child.status in (JobStatus.failed, JobStatus.cancelled)
        if ended_badly and retrying:
            return Due("requeue", stage)
        if child.status in ACTIVE:
            return Due("wait", stage)
        if child.status == JobStatus.failed:
            reason = child.error.splitlines()[0] if child.error else "no reason given"
            return Due("fail", stage, f"stage {stage} failed: {reason}")
        if child.status == JobStatus.cancelled:
            return Due("cancel", stage)
    return Due("register")


def _plan_config(pipeline: Job) -> dict[str, Any]:
    """The plan stage's config (``plan: auto``): the pretrain's data, the finetune's task
    (anomaly without a finetune stage), the pipeline's budget, a GPU when it asked for one."""
    finetune = pipeline.config.get("finetune")
    return {"data": pipeline.config["pretrain"]["data"]["path"],
            "task": finetune["task"] if finetune else "anomaly",
            "budget_minutes": pipeline.config.get("budget_minutes", 20.0),
            "device": "cuda" if pipeline.gpus else "cpu"}


def _planned(children: dict[str, Job]) -> dict[str, Any] | None:
    """The plan the pipeline's plan stage made, if it has one."""
    plan = children.get("plan")
    return (plan.result or {}).get("plan") if plan is not None else None


def _stage_config(pipeline: Job, stage: str, children: dict[str, Job]) -> dict[str, Any]:
    """The child job's config of ``stage``: its section of the pipeline's config (the plan's
    pretrain config once a plan stage made one), with the references the pipeline fills (the
    checkpoint of the stage that pretrains the backbone)."""
    if stage == "plan":
        return _plan_config(pipeline)
    planned = _planned(children)
    if stage == "pretrain" and planned is not None:
        config = copy.deepcopy(planned["pretrain"])
        config["data"]["path"] = pipeline.config["pretrain"]["data"]["path"]
        return config
    config = copy.deepcopy(pipeline.config[stage])
    backbone = _backbone_stage(pipeline, children)
    for reference in KINDS[pipeline.kind].references:
        if reference.filled_by_pipeline and reference.path[0] == stage and backbone:
            node = config
            for key in reference.path[1:-1]:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
            node[reference.path[-1]] = reference_to(JOB_SCHEME, backbone.id)
    return config


def _backbone_stage(pipeline: Job, children: dict[str, Job]) -> Job | None:
    """The stage job that pretrains the backbone (the one that leaves a checkpoint)."""
    return next((children[stage] for stage in KINDS[pipeline.kind].stages
                 if stage in children and KINDS[stage].produces_checkpoint), None)


def _registered_stage(pipeline: Job, children: dict[str, Job]) -> Job | None:
    """The stage job whose model the pipeline registers: its finetuned defect model when it
    has one, else its backbone."""
    return next((children[stage] for stage in reversed(KINDS[pipeline.kind].stages)
                 if stage in children and (KINDS[stage].produces_model
                                           or KINDS[stage].produces_checkpoint)), None)


def _finish(session: Session, pipeline: Job, status: JobStatus, error: str = "",
            result: dict[str, Any] | None = None) -> None:
    pipeline.status, pipeline.error = status, error
    pipeline.finished_at = pipeline.updated_at = utcnow()
    pipeline.lease_owner = pipeline.lease_expires_at = None
    if result is not None:
        pipeline.result = result
    add_event(session, pipeline, "status",
              {"status": status.value, **({"error": error} if error else {})})


def _stage_progress(pipeline: Job, stage: str) -> dict[str, Any]:
    stages = [name for name in KINDS[pipeline.kind].stages if pipeline.config.get(name)]
    return {"stage": stage, "stage_number": stages.index(stage) + 1, "stages": len(stages)}


def _start_stage(session: Session, pipeline: Job, stage: str, config: dict[str, Any]) -> Job:
    now = utcnow()
    # queued_at: the stage keeps its pipeline's place in the organization's queue
    child = Job(organization_id=pipeline.organization_id, project_id=pipeline.project_id,
                kind=stage, name=f"{pipeline.name or 'pipeline'} / {stage}",
                priority=pipeline.priority, gpus=pipeline.gpus,
                queue=KINDS[stage].queue_for(pipeline.gpus), config=config, inputs={},
                dataset_version_id=pipeline.dataset_version_id, parent_id=pipeline.id,
                created_by_user_id=pipeline.created_by_user_id,
                queued_at=pipeline.queued_at or now, updated_at=now)
    session.add(child)
    session.flush()
    pipeline.progress = _stage_progress(pipeline, stage)
    add_event(session, child, "status",
              {"status": JobStatus.queued.value, "pipeline": str(pipeline.id)})
    return child


def _requeue_stage(session: Session, pipeline: Job, child: Job) -> None:
    child.status, child.error, child.cancel_requested = JobStatus.queued, "", False
    child.finished_at = None
    child.queued_at = pipeline.queued_at or utcnow()
    child.updated_at = utcnow()
    pipeline.progress = _stage_progress(pipeline, child.kind)
    add_event(session, child, "status", {"status": JobStatus.queued.value, "retry": True})


def _register(session: Session, pipeline: Job, children: dict[str, Job]) -> dict[str, Any]:
    """The trained model as the next version of the pipeline's registered model."""
    trained = _registered_stage(pipeline, children)
    if trained is None:
        raise ValueError("no stage of the pipeline trained a model")
    finetune = pipeline.config.get("finetune")
    default_name = f"{finetune['task']} model" if finetune else "pretrained backbone"
    model = model_named(session, pipeline.organization_id, pipeline.project_id,
                        pipeline.config.get("model_name") or default_name,
                        "trained by a pipeline")
    version = register_version(session, pipeline.organization_id, model, trained)
    return {"model_id": str(model.id), "model_version_id": str(version.id),
            "version": version.version, "metrics": version.metrics,
            "stages": {stage: str(child.id) for stage, child in children.items()},
            **_plan_summary(children)}


def _plan_summary(children: dict[str, Job]) -> dict[str, Any]:
    """{"plan": its reasons and estimate} when a plan stage made one, else nothing."""
    planned = _planned(children)
    if planned is None:
        return {}
    return {"plan": {key: planned[key] for key in ("task", "budget_minutes", "reasons",
                                                   "estimate")}}


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
        children = {child.kind: child for child in session.scalars(
            select(Job).where(Job.parent_id == pipeline.id).order_by(Job.created_at))}
        stages = [stage for stage in KINDS[pipeline.kind].stages
                  if pipeline.config.get(stage) is not None]
        due = what_is_due(stages, {stage: StageState(child.status, child.error)
                                   for stage, child in children.items()},
                          pipeline.cancel_requested, retrying)
        if due.action == "start":
            to_announce.append(_start_stage(session, pipeline, due.stage,
                                            _stage_config(pipeline, due.stage, children)))
            if _planned(children) is not None:  # the plan's reasons, visible while it runs
                pipeline.result = {**(pipeline.result or {}), **_plan_summary(children)}
        elif due.action == "requeue":
            _requeue_stage(session, pipeline, children[due.stage])
            to_announce.append(children[due.stage])
        elif due.action == "fail":
            _finish(session, pipeline, JobStatus.failed, due.reason)
        elif due.action == "cancel":
            _finish(session, pipeline, JobStatus.cancelled)
        elif due.action == "register":
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
    orchestrating = [name for name, kind in KINDS.items() if kind.orchestrates]
    with session_scope(factory) as session:
        busy_stage = select(Job.id).where(
            Job.parent_id == parent.c.id,
            or_(Job.status.in_(ACTIVE), Job.finished_at > cutoff))
        return list(session.scalars(
            select(parent.c.id).where(parent.c.kind.in_(orchestrating),
                                      parent.c.status == JobStatus.running,
                                      parent.c.lease_owner.is_(None),
                                      parent.c.updated_at < cutoff, ~busy_stage.exists())))
