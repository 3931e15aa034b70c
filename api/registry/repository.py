"""Tenant-scoped access to the registry's tables (queries live here, not in the routers)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from api.kit.pagination import Page, PageParams
from api.models.registry import ModelAlias, ModelVersion, RegisteredModel
from api.tenancy import TenantRepository


class Models(TenantRepository[RegisteredModel]):
    model, noun = RegisteredModel, "model"

    def named_in(self, project_id: uuid.UUID, name: str) -> RegisteredModel | None:
        return self.session.scalar(self.select().where(RegisteredModel.project_id == project_id,
                                                       RegisteredModel.name == name))

    def in_project(self, project_id: uuid.UUID, params: PageParams, convert) -> Page:
        return self.page(self.select().where(RegisteredModel.project_id == project_id)
                         .order_by(RegisteredModel.name), params, convert)


class ModelVersions(TenantRepository[ModelVersion]):
    model, noun = ModelVersion, "model version"

    def version_of_job(self, model_id: uuid.UUID, job_id: uuid.UUID) -> int | None:
        """The number of the model's version that ``job_id`` became, if any."""
        return self.session.scalar(select(ModelVersion.version).where(
            ModelVersion.organization_id == self.tenant.organization_id,
            ModelVersion.model_id == model_id, ModelVersion.job_id == job_id))

    def next_number(self, model_id: uuid.UUID) -> int:
        latest = self.session.scalar(select(func.max(ModelVersion.version)).where(
            ModelVersion.organization_id == self.tenant.organization_id,
            ModelVersion.model_id == model_id))
        return (latest or 0) + 1

    def of_model(self, model_id: uuid.UUID, params: PageParams) -> Page:
        """The model's versions, newest first."""
        return self.page(self.select().where(ModelVersion.model_id == model_id)
                         .order_by(ModelVersion.version.desc()), params)


class Aliases(TenantRepository[ModelAlias]):
    model, noun = ModelAlias, "alias"

    def of_model(self, model_id: uuid.UUID) -> dict[str, uuid.UUID]:
        """alias -> model version id."""
        return {row.alias: row.model_version_id for row in self.session.scalars(
            self.select().where(ModelAlias.model_id == model_id))}

    def named(self, model_id: uuid.UUID, alias: str) -> ModelAlias | None:
        return self.session.scalar(self.select().where(ModelAlias.model_id == model_id,
                                                       ModelAlias.alias == alias))
