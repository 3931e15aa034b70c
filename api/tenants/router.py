"""/api/v1: organizations, members, invitations, API keys, the audit log."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request, status

from api.kit.deps import SessionDep, SettingsDep
from api.models.tenants import AuditEvent, Invitation, Organization
from api.quotas.schemas import QuotaOut
from api.quotas.service import usage
from api.tenancy import AdminDep, CurrentUser, TenantDep, forget_authorizations
from api.tenants import service
from api.tenants.repository import (
    ApiKeys,
    AuditEvents,
    Invitations,
    Memberships,
    organizations_of,
)
from api.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEventOut,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    OrganizationCreate,
    OrganizationOut,
    RoleChange,
)

router = APIRouter(prefix="/api/v1", tags=["organizations"])


@router.post("/organizations", status_code=status.HTTP_201_CREATED,
             response_model=OrganizationOut)
def create(body: OrganizationCreate, user: CurrentUser, session: SessionDep,
           settings: SettingsDep, request: Request) -> Organization:
    """A new organization owned by the caller."""
    organization = service.create_organization(session, settings, body.name, user)
    forget_authorizations(request)
    return organization


@router.get("/organizations", response_model=list[OrganizationOut])
def mine(user: CurrentUser, session: SessionDep) -> list[Organization]:
    return [organization for _, organization in organizations_of(session, user.id)]


@router.get("/organization", response_model=OrganizationOut)
def current(tenant: TenantDep, session: SessionDep) -> Organization:
    """The organization this request acts in."""
    return session.get(Organization, tenant.organization_id)


@router.get("/organization/usage", response_model=QuotaOut)
def quota_usage(tenant: TenantDep, session: SessionDep) -> QuotaOut:
    return usage(session, tenant.organization_id)


@router.get("/members", response_model=list[MemberOut])
def list_members(tenant: TenantDep, session: SessionDep) -> list[MemberOut]:
    return [MemberOut(user_id=user.id, email=user.email, role=m.role, joined_at=m.created_at)
            for m, user in Memberships(session, tenant).with_users()]


@router.patch("/members/{user_id}", response_model=MemberOut)
def change_role(user_id: uuid.UUID, body: RoleChange, tenant: AdminDep,
                session: SessionDep, request: Request) -> MemberOut:
    membership = service.change_role(session, tenant, user_id, body.role)
    forget_authorizations(request)
    member = dict((m.user_id, u) for m, u in Memberships(session, tenant).with_users())[user_id]
    return MemberOut(user_id=user_id, email=member.email, role=membership.role,
                     joined_at=membership.created_at)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(user_id: uuid.UUID, tenant: AdminDep, session: SessionDep,
                  request: Request) -> None:
    service.remove_member(session, tenant, user_id)
    forget_authorizations(request)


@router.post("/invitations", status_code=status.HTTP_201_CREATED,
             response_model=InvitationCreated)
def invite(body: InvitationCreate, tenant: AdminDep, session: SessionDep,
           settings: SettingsDep) -> InvitationCreated:
    invitation, token = service.invite(session, settings, tenant, body.email, body.role)
    return InvitationCreated(**InvitationOut.model_validate(invitation).model_dump(),
                             token=token)


@router.get("/invitations", response_model=list[InvitationOut])
def list_invitations(tenant: AdminDep, session: SessionDep) -> list[Invitation]:
    return Invitations(session, tenant).newest_first()


@router.post("/invitations/accept", response_model=OrganizationOut)
def accept(body: InvitationAccept, user: CurrentUser, session: SessionDep,
           request: Request) -> Organization:
    membership = service.accept_invitation(session, user, body.token)
    forget_authorizations(request)
    return session.get(Organization, membership.organization_id)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, tenant: AdminDep, session: SessionDep) -> ApiKeyCreated:
    key, plaintext = service.create_api_key(session, tenant, body)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=plaintext)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(tenant: AdminDep, session: SessionDep) -> list:
    return ApiKeys(session, tenant).newest_first()


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: uuid.UUID, tenant: AdminDep, session: SessionDep,
                   request: Request):
    key = service.revoke_api_key(session, tenant, key_id)
    forget_authorizations(request)
    return key


@router.get("/audit-events", response_model=list[AuditEventOut])
def audit_events(tenant: AdminDep, session: SessionDep,
                 limit: int = Query(100, ge=1, le=1000),
                 action: str | None = Query(None, max_length=64)) -> list[AuditEvent]:
    return AuditEvents(session, tenant).latest(limit, action)
