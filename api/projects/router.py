"""/api/v1/projects."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError

from api import audit
from api.kit.deps import SessionDep
from api.kit.pagination import Page, PageDep
from api.kit.problems import Conflict
from api.models.projects import Project
from api.projects.repository import Projects
from api.projects.schemas import ProjectCreate, ProjectOut, ProjectUpdate
from api.tenancy import AdminDep, TenantDep, WriterDep

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _flush_unique(session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a project named {name!r} already exists") from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
def create(body: ProjectCreate, tenant: WriterDep, session: SessionDep) -> Project:
    projects = Projects(session, tenant)
    if projects.named(body.name) is not None:
        raise Conflict(f"a project named {body.name!r} already exists")
    return projects.add(Project(name=body.name, description=body.description))


@router.get("", response_model=Page[ProjectOut])
def list_projects(tenant: TenantDep, session: SessionDep,
                  page: PageDep) -> Page[ProjectOut]:
    return Projects(session, tenant).newest_first(page)


@router.get("/{project_id}", response_model=ProjectOut)
def get(project_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> Project:
    return Projects(session, tenant).get(project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def update(project_id: uuid.UUID, body: ProjectUpdate, tenant: WriterDep,
           session: SessionDep) -> Project:
    project = Projects(session, tenant).get(project_id)
    for field, value in body.model_dump(exclude_none=True).items():
        setattr(project, field, value)
    _flush_unique(session, project.name)
    return project


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(project_id: uuid.UUID, tenant: AdminDep, session: SessionDep) -> None:
    projects = Projects(session, tenant)
    project = projects.get(project_id)
    projects.delete(project)
    audit.record(session, "project.deleted", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="project", target_id=project_id,
                 name=project.name)
