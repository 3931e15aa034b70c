"""Registering the model a job left as a version of a registered model, with the platform's
metrics: data layer only (an organization id, no caller), shared by the API's registry
service and the workers' pipelines."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.jobs.metrics import numeric_metrics
from api.jobs.repository import Jobs
from api.kit.problems import Conflict
from api.models.jobs import Job, JobStatus
from api.models.registry import ModelVersion, RegisteredModel
from api.registry.repository import Models, ModelVersions
from api.tenancy import OwnedBy
from engine.schemas.kinds import JOB_SCHEME, KINDS

MODEL_ARTIFACTS = ("checkpoint", "model")
# Kinds whose jobs score a checkpoint (``config.checkpoint`` = job://<id>) on labeled data.
EVALUATING_KINDS = tuple(name for name, kind in KINDS.items()
                         if any(ref.path == ("checkpoint",) and ref.scheme == JOB_SCHEME
                                for ref in kind.references))


def platform_metrics(session: Session, job: Job) -> dict[str, float]:
    """What the platform measured of ``job``'s model: the job's own figures, then those of
    the succeeded jobs that evaluated its checkpoint (the latest evaluation wins a tie),
    flattened to dotted names. Never a number a user typed."""
    metrics = numeric_metrics(job.result.get("metrics", {}))
    jobs = Jobs(session, OwnedBy(job.organization_id))
    for evaluation in jobs.evaluations_of(job.id, EVALUATING_KINDS):
        metrics.update(numeric_metrics(evaluation.result.get("metrics", {})))
    return metrics


def register_version(session: Session, organization_id: uuid.UUID, model: RegisteredModel,
                     job: Job, notes: str = "") -> ModelVersion:
    """``job``'s model as the next version of ``model``, with the platform's metrics.

    Only a succeeded job that left a model (a backbone checkpoint or a model directory)
    registers, once per model."""
    kind = KINDS.get(job.kind)
    if kind is None or not any(kind.leaves(artifact) and artifact in job.artifacts
                               for artifact in MODEL_ARTIFACTS):
        makers = ", ".join(name for name, spec in KINDS.items()
                           if any(spec.leaves(artifact) for artifact in MODEL_ARTIFACTS))
        raise Conflict(f"job {job.id} is a {job.kind} job and left no model; only {makers} "
                       "jobs that left a checkpoint or model directory register")
    if job.status != JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; only succeeded jobs register")
    if job.project_id != model.project_id:
        raise Conflict("the job and the model belong to different projects")
    versions = ModelVersions(session, OwnedBy(organization_id))
    existing = versions.version_of_job(model.id, job.id)
    if existing is not None:
        raise Conflict(f"job {job.id} is already version {existing} of model {model.name!r}")
    metrics = platform_metrics(session, job)
    try:
        with session.begin_nested():  # a savepoint: a lost race leaves the session usable
            return versions.add(ModelVersion(
                model_id=model.id, version=versions.next_number(model.id), job_id=job.id,
                dataset_version_id=job.dataset_version_id, kind=job.kind, config=job.config,
                metrics=metrics, notes=notes, artifacts=artifact_keys(job.artifacts)))
    except IntegrityError:
        raise Conflict(f"model {model.name!r} got a new version at the same moment; "
                       "register again") from None


def model_named(session: Session, organization_id: uuid.UUID, project_id: uuid.UUID,
                name: str, description: str) -> RegisteredModel:
    """The project's model called ``name``, created (with ``description``) when missing."""
    models = Models(session, OwnedBy(organization_id))
    found = models.named_in(project_id, name)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            return models.add(RegisteredModel(project_id=project_id, name=name,
                                              description=description))
    except IntegrityError:  # made by another request or pipeline meanwhile
        return models.named_in(project_id, name)


def artifact_keys(artifacts: dict[str, Any]) -> dict[str, str]:
    """Job artifacts ({"checkpoint": {"key": ..., "bytes": ...}}) as name -> object key."""
    return {name: value["key"] if isinstance(value, dict) else value
            for name, value in artifacts.items()}
