"""/api/v1/admin: the platform admin's view of the GPU queues (platform admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.admin import service
from api.admin.schemas import OrganizationUsageOut, QueueOut, WorkerOut
from api.kit.deps import SessionDep, SettingsDep
from api.kit.problems import Forbidden
from api.models.auth import User
from api.tenancy import CurrentUser

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def platform_admin(user: CurrentUser) -> User:
    if not user.is_platform_admin:
        raise Forbidden("this endpoint is for platform administrators")
    return user


PlatformAdmin = Annotated[User, Depends(platform_admin)]


@router.get("/queues", response_model=list[QueueOut])
def queues(_: PlatformAdmin, session: SessionDep) -> list[QueueOut]:
    """Per queue: jobs waiting, jobs running, how long the oldest has waited."""
    return service.queues(session)


@router.get("/workers", response_model=list[WorkerOut])
def workers(_: PlatformAdmin, session: SessionDep, settings: SettingsDep) -> list[WorkerOut]:
    """Workers with host, devices (GPU name, memory used/total, utilization), current job."""
    return service.workers(session, offline_after_seconds=3 * settings.housekeeping_seconds)


@router.get("/usage", response_model=list[OrganizationUsageOut])
def usage(_: PlatformAdmin, session: SessionDep) -> list[OrganizationUsageOut]:
    """GPU-hours this month and running/queued jobs per organization."""
    return service.organization_usage(session)
