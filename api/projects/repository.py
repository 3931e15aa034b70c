from __future__ import annotations

from api.projects.models import Project
from api.tenancy import TenantRepository


class Projects(TenantRepository[Project]):
    model, noun = Project, "project"
