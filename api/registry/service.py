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


class Models(TenantRepository[RegisteredModel]):
    model, noun = RegisteredModel, "model"


class ModelVersions(TenantRepository[ModelVersion]):
    model, noun = ModelVersion, "model version"


class Aliases(TenantRepository[ModelAlias]):
    model, noun = ModelAlias, "alias"


def register_job(session: Session, tenant: Tenant, model: RegisteredModel, job: Job,
                 extra_metrics: dict[str, float] | None = None) -> ModelVersion:
    if job.status != JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; only succeeded jobs register")
    if job.project_id != model.project_id:
        raise Conflict("the job and the model belong to different projects")
    latest = session.scalar(select(func.max(ModelVersion.version))
                            .where(ModelVersion.model_id == model.id))
    return ModelVersions(session, tenant).add(ModelVersion(
        model_id=model.id, version=(latest or 0) + 1, job_id=job.id,
        dataset_version_id=job.dataset_version_id, kind=job.kind, config=job.config,
        metrics={**numeric_metrics(job.result.get("metrics", {})), **(extra_metrics or {})},
        artifacts=artifact_keys(job.artifacts)))


def artifact_keys(artifacts: dict[str, Any]) -> dict[str, str]:
    """Job artifacts ({"checkpoint": {"key": ..., "bytes": ...}}) as name -> object key."""
    return {name: value["key"] if isinstance(value, dict) else value
            for name, value in artifacts.items()}


def register(session: Session, tenant: Tenant, model_id: uuid.UUID, job_id: uuid.UUID,
             extra_metrics: dict[str, float]) -> ModelVersion:
    model = Models(session, tenant).get(model_id)
    return register_job(session, tenant, model, Jobs(session, tenant).get(job_id), extra_metrics)


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
