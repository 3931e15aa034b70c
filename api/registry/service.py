"""Registering job outcomes as model versions, aliases, comparisons."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import audit
from api.jobs.metrics import numeric_metrics
from api.jobs.models import Job, JobStatus
from api.jobs.repository import Jobs
from api.problems import Conflict, NotFound
from api.registry.models import ModelAlias, ModelVersion, RegisteredModel
from api.tenancy import Tenant, TenantRepository
from engine.schemas.kinds import JOB_SCHEME, KINDS, reference_to

# Kinds whose jobs score a checkpoint (``config.checkpoint`` = job://<id>) on labeled data.
EVALUATING_KINDS = tuple(name for name, kind in KINDS.items()
                         if any(ref.path == ("checkpoint",) and ref.scheme == JOB_SCHEME
                                for ref in kind.references))


class Models(TenantRepository[RegisteredModel]):
    model, noun = RegisteredModel, "model"


class ModelVersions(TenantRepository[ModelVersion]):
    model, noun = ModelVersion, "model version"


class Aliases(TenantRepository[ModelAlias]):
    model, noun = ModelAlias, "alias"


def platform_metrics(session: Session, job: Job) -> dict[str, float]:
    """What the platform measured of ``job``'s model: the job's own figures, then those of
    the succeeded jobs that evaluated its checkpoint (the latest evaluation wins a tie),
    flattened to dotted names. Never a number a user typed."""
    metrics = numeric_metrics(job.result.get("metrics", {}))
    reference = reference_to(JOB_SCHEME, job.id)
    evaluations = session.scalars(select(Job).where(
        Job.organization_id == job.organization_id, Job.status == JobStatus.succeeded,
        Job.kind.in_(EVALUATING_KINDS), Job.config["checkpoint"].as_string() == reference)
        .order_by(Job.finished_at))
    for evaluation in evaluations:
        metrics.update(numeric_metrics(evaluation.result.get("metrics", {})))
    return metrics


def register_version(session: Session, organization_id: uuid.UUID, model: RegisteredModel,
                     job: Job, notes: str = "") -> ModelVersion:
    """``job``'s model as the next version of ``model``, with the platform's metrics.

    Only a succeeded job that left a model (a checkpoint) registers, once per model."""
    kind = KINDS.get(job.kind)
    if kind is None or not kind.produces_checkpoint or "checkpoint" not in job.artifacts:
        makers = ", ".join(name for name, spec in KINDS.items() if spec.produces_checkpoint)
        raise Conflict(f"job {job.id} is a {job.kind} job and left no model; only {makers} "
                       "jobs that left a checkpoint register")
    if job.status != JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; only succeeded jobs register")
    if job.project_id != model.project_id:
        raise Conflict("the job and the model belong to different projects")
    existing = session.scalar(select(ModelVersion.version).where(
        ModelVersion.model_id == model.id, ModelVersion.job_id == job.id))
    if existing is not None:
        raise Conflict(f"job {job.id} is already version {existing} of model {model.name!r}")
    latest = session.scalar(select(func.max(ModelVersion.version))
                            .where(ModelVersion.model_id == model.id))
    version = ModelVersion(
        organization_id=organization_id, model_id=model.id, version=(latest or 0) + 1,
        job_id=job.id, dataset_version_id=job.dataset_version_id, kind=job.kind,
        config=job.config, metrics=platform_metrics(session, job), notes=notes,
        artifacts=artifact_keys(job.artifacts))
    session.add(version)
    session.flush()
    return version


def model_named(session: Session, organization_id: uuid.UUID, project_id: uuid.UUID,
                name: str, description: str) -> RegisteredModel:
    """The project's model called ``name``, created (with ``description``) when missing."""
    model = session.scalar(select(RegisteredModel).where(
        RegisteredModel.organization_id == organization_id,
        RegisteredModel.project_id == project_id, RegisteredModel.name == name))
    if model is None:
        model = RegisteredModel(organization_id=organization_id, project_id=project_id,
                                name=name, description=description)
        session.add(model)
        session.flush()
    return model


def artifact_keys(artifacts: dict[str, Any]) -> dict[str, str]:
    """Job artifacts ({"checkpoint": {"key": ..., "bytes": ...}}) as name -> object key."""
    return {name: value["key"] if isinstance(value, dict) else value
            for name, value in artifacts.items()}


def register(session: Session, tenant: Tenant, model_id: uuid.UUID, job_id: uuid.UUID,
             notes: str) -> ModelVersion:
    model = Models(session, tenant).get(model_id)
    return register_version(session, tenant.organization_id, model,
                            Jobs(session, tenant).get(job_id), notes)


def aliases_of(session: Session, tenant: Tenant, model_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = session.scalars(Aliases(session, tenant).select()
                           .where(ModelAlias.model_id == model_id))
    return {row.alias: row.model_version_id for row in rows}


def set_alias(session: Session, tenant: Tenant, model_id: uuid.UUID, alias: str,
              version_id: uuid.UUID) -> ModelAlias:
    Models(session, tenant).require(model_id)
    version = ModelVersions(session, tenant).get(version_id)
    if version.model_id != model_id:
        raise NotFound(f"model version {version_id} not found in model {model_id}")
    aliases = Aliases(session, tenant)
    row = session.scalar(aliases.select().where(ModelAlias.model_id == model_id,
                                                ModelAlias.alias == alias))
    previous = row.model_version_id if row else None
    if row is None:
        row = aliases.add(ModelAlias(model_id=model_id, alias=alias,
                                     model_version_id=version_id))
    else:
        row.model_version_id = version_id
    audit.record(session, "model.promoted", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="model_version", target_id=version_id,
                 alias=alias, previous=previous or "")
    return row


def compare(session: Session, tenant: Tenant, version_ids: list[uuid.UUID]) -> dict[str, Any]:
    versions = ModelVersions(session, tenant)
    rows, names = [], set()
    for version_id in version_ids:
        version = versions.get(version_id)
        model = session.get(RegisteredModel, version.model_id)
        rows.append((version, model))
        names.update(version.metrics)
    metrics = sorted(names)
    return {"metrics": metrics, "rows": [
        {"model_version_id": v.id, "model": m.name, "version": v.version,
         "metrics": {name: v.metrics.get(name) for name in metrics}} for v, m in rows]}
