"""The registry's API policy: registering a caller's job, aliases, comparisons (ranked
within each task by ``api.registry.ranking``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from api import audit
from api.jobs.repository import Jobs
from api.kit.problems import NotFound
from api.models.registry import ModelAlias, ModelVersion, RegisteredModel
from api.registry.ranking import rank, task_of
from api.registry.registration import register_version
from api.registry.repository import Aliases, Models, ModelVersions
from api.tenancy import Tenant


def register(session: Session, tenant: Tenant, model_id: uuid.UUID, job_id: uuid.UUID,
             notes: str) -> ModelVersion:
    model = Models(session, tenant).get(model_id)
    return register_version(session, tenant.organization_id, model,
                            Jobs(session, tenant).get(job_id), notes)


def set_alias(session: Session, tenant: Tenant, model_id: uuid.UUID, alias: str,
              version_id: uuid.UUID) -> ModelAlias:
    Models(session, tenant).require(model_id)
    version = ModelVersions(session, tenant).get(version_id)
    if version.model_id != model_id:
        raise NotFound(f"model version {version_id} not found in model {model_id}")
    aliases = Aliases(session, tenant)
    row = aliases.named(model_id, alias)
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
    ranked = rank([(task_of(v.kind, v.config), v.metrics) for v, _ in rows])
    return {"metrics": metrics, "rows": [
        {"model_version_id": v.id, "model": m.name, "version": v.version,
         "metrics": {name: v.metrics.get(name) for name in metrics}, "task": place.task,
         "primary_metric": place.primary_metric, "rank": place.rank}
        for (v, m), place in zip(rows, ranked, strict=True)]}
