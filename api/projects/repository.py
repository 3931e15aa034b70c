"""Tenant-scoped access to projects (queries live here, not in the router)."""

from __future__ import annotations

from api.kit.pagination import Page, PageParams
from api.models.projects import Project
from api.tenancy import TenantRepository


class Projects(TenantRepository[Project]):
    model, noun = Project, "project"

    def named(self, name: str) -> Project | None:
        return self.session.scalar(self.select().where(Project.name == name))

    def newest_first(self, params: PageParams) -> Page:
        return self.page(self.select().order_by(Project.created_at.desc()), params)
