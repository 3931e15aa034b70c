"""/api/v1: the model registry — models, versions, aliases, comparison, downloads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api import audit
from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.pagination import Page, PageDep
from api.kit.problems import Conflict, NotFound
from api.models.registry import ModelVersion, RegisteredModel
from api.projects.repository import Projects
from api.registry import service
from api.registry.evaluation import evaluation_of
from api.registry.repository import Aliases, Models, ModelVersions
from api.registry.schemas import (
    AliasSet,
    Comparison,
    ModelCreate,
    ModelEvaluation,
    ModelOut,
    ModelVersionOut,
    VersionRegister,
)
from api.tenancy import AdminDep, TenantDep, WriterDep

router = APIRouter(prefix="/api/v1", tags=["models"])
AliasName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def _out(session, tenant, model: RegisteredModel) -> ModelOut:
    return ModelOut.model_validate(model).model_copy(
        update={"aliases": Aliases(session, tenant).of_model(model.id)})


@router.post("/projects/{project_id}/models", status_code=status.HTTP_201_CREATED,
             response_model=ModelOut)
def create(project_id: uuid.UUID, body: ModelCreate, tenant: WriterDep,
           session: SessionDep) -> ModelOut:
    Projects(session, tenant).require(project_id)
    models = Models(session, tenant)
    if models.named_in(project_id, body.name) is not None:
        raise Conflict(f"the project already has a model named {body.name!r}")
    model = models.add(RegisteredModel(project_id=project_id, name=body.name,
                                       description=body.description))
    return _out(session, tenant, model)


@router.get("/projects/{project_id}/models", response_model=Page[ModelOut])
def list_models(project_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                page: PageDep) -> Page[ModelOut]:
    Projects(session, tenant).require(project_id)
    return Models(session, tenant).in_project(project_id, page,
                                              lambda model: _out(session, tenant, model))


@router.get("/models/{model_id}", response_model=ModelOut)
def get(model_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> ModelOut:
    return _out(session, tenant, Models(session, tenant).get(model_id))


@router.delete("/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(model_id: uuid.UUID, tenant: AdminDep, session: SessionDep) -> None:
    models = Models(session, tenant)
    model = models.get(model_id)
    models.delete(model)
    audit.record(session, "model.deleted", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="model", target_id=model_id,
                 name=model.name)


@router.post("/models/{model_id}/versions", status_code=status.HTTP_201_CREATED,
             response_model=ModelVersionOut)
def register(model_id: uuid.UUID, body: VersionRegister, tenant: WriterDep,
             session: SessionDep) -> ModelVersion:
    """The next version from a succeeded job that left a model: its platform metrics, data,
    config and artifacts, and the caller's notes."""
    return service.register(session, tenant, model_id, body.job_id, body.notes)


@router.get("/models/{model_id}/versions", response_model=Page[ModelVersionOut])
def list_versions(model_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                  page: PageDep) -> Page[ModelVersionOut]:
    Models(session, tenant).require(model_id)
    return ModelVersions(session, tenant).of_model(model_id, page)


@router.get("/model-versions/{version_id}", response_model=ModelVersionOut)
def get_version(version_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> ModelVersion:
    return ModelVersions(session, tenant).get(version_id)


@router.get("/model-versions/{version_id}/artifacts/{name}")
def download(version_id: uuid.UUID, name: Annotated[str, Path(max_length=64)],
             tenant: TenantDep, session: SessionDep, store: StoreDep,
             settings: SettingsDep) -> dict[str, str]:
    """A presigned download URL of one artifact (e.g. ``checkpoint``)."""
    version = ModelVersions(session, tenant).get(version_id)
    key = version.artifacts.get(name)
    if key is None:
        raise NotFound(f"model version {version_id} has no artifact {name!r}; it has "
                       f"{sorted(version.artifacts) or 'none'}")
    return {"url": store.presigned_get(key, settings.presign_seconds,
                                       filename=key.rsplit("/", 1)[-1])}


@router.get("/model-versions/{version_id}/evaluation", response_model=ModelEvaluation)
def evaluation(version_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
               store: StoreDep, settings: SettingsDep) -> ModelEvaluation:
    """The version's confusion matrix, ROC and precision-recall curves and validation images
    (misclassified first, with their heat maps or pictures), as its finetune job measured
    them."""
    version = ModelVersions(session, tenant).get(version_id)
    return evaluation_of(version, tenant.organization_id, store, settings.presign_seconds)


@router.put("/models/{model_id}/aliases/{alias}", response_model=ModelOut)
def set_alias(model_id: uuid.UUID, alias: AliasName, body: AliasSet, tenant: WriterDep,
              session: SessionDep) -> ModelOut:
    """Point ``alias`` (e.g. ``production``) at a version; moving it is audited."""
    service.set_alias(session, tenant, model_id, alias, body.model_version_id)
    return _out(session, tenant, Models(session, tenant).get(model_id))


@router.delete("/models/{model_id}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias(model_id: uuid.UUID, alias: AliasName, tenant: WriterDep,
                 session: SessionDep) -> None:
    aliases = Aliases(session, tenant)
    row = aliases.named(model_id, alias)
    if row is None:
        raise NotFound(f"model {model_id} has no alias {alias!r}")
    aliases.delete(row)


@router.get("/model-comparison", response_model=Comparison)
def compare(tenant: TenantDep, session: SessionDep,
            version_id: Annotated[list[uuid.UUID], Query(min_length=1, max_length=50)]
            ) -> Comparison:
    """Model versions x metrics, the same platform-reported metrics for every candidate."""
    return Comparison(**service.compare(session, tenant, version_id))
