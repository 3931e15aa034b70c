"""Members, roles, invitations and API keys of the caller's organization."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.auth.models import ApiKey, User
from api.db import utcnow
from api.problems import Conflict, Forbidden, NotFound, Problem
from api.security import new_api_key, random_token, sha256_hex
from api.settings import Settings
from api.tenancy import Tenant, TenantRepository
from api.tenants.models import ROLE_RANK, Invitation, Membership, Role
from api.tenants.schemas import ApiKeyCreate


class ApiKeys(TenantRepository[ApiKey]):
    model, noun = ApiKey, "API key"


def members(session: Session, tenant: Tenant) -> list[tuple[Membership, User]]:
    return session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == tenant.organization_id)
        .order_by(User.email)).all()


def _membership(session: Session, tenant: Tenant, user_id: uuid.UUID) -> Membership:
    row = session.scalar(select(Membership).where(
        Membership.organization_id == tenant.organization_id, Membership.user_id == user_id))
    if row is None:
        raise NotFound(f"member {user_id} not found")
    return row


def _owners(session: Session, tenant: Tenant) -> int:
    return len(session.scalars(select(Membership).where(
        Membership.organization_id == tenant.organization_id,
        Membership.role == Role.owner)).all())


def change_role(session: Session, tenant: Tenant, user_id: uuid.UUID, role: Role) -> Membership:
    """Admins manage members up to admin; only owners grant or take the owner role."""
    membership = _membership(session, tenant, user_id)
    touches_owner = Role.owner in (role, membership.role)
    if touches_owner:
        tenant.require(Role.owner)
    if membership.role == Role.owner and role != Role.owner and _owners(session, tenant) == 1:
        raise Conflict("an organization keeps at least one owner")
    previous = membership.role
    membership.role = role
    audit.record(session, "member.role_changed", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="user", target_id=user_id,
                 previous=previous.value, role=role.value)
    return membership


def remove_member(session: Session, tenant: Tenant, user_id: uuid.UUID) -> None:
    membership = _membership(session, tenant, user_id)
    if membership.role == Role.owner:
        tenant.require(Role.owner)
        if _owners(session, tenant) == 1:
            raise Conflict("an organization keeps at least one owner")
    session.delete(membership)
    audit.record(session, "member.removed", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="user", target_id=user_id)


def invite(session: Session, settings: Settings, tenant: Tenant, email: str, role: Role
           ) -> tuple[Invitation, str]:
    if ROLE_RANK[role] > ROLE_RANK[tenant.role]:
        raise Forbidden(f"you cannot invite with a role above your own ({tenant.role.value})")
    token = random_token()
    invitation = Invitation(
        organization_id=tenant.organization_id, email=email.strip().lower(), role=role,
        token_hash=sha256_hex(token), invited_by_user_id=tenant.principal.user_id,
        expires_at=utcnow() + timedelta(days=settings.invitation_days))
    session.add(invitation)
    session.flush()
    audit.record(session, "invitation.created", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="invitation", target_id=invitation.id,
                 email=invitation.email, role=role.value)
    return invitation, token


def accept_invitation(session: Session, user: User, token: str) -> Membership:
    invitation = session.scalar(select(Invitation).where(
        Invitation.token_hash == sha256_hex(token)))
    if (invitation is None or invitation.accepted_at is not None
            or invitation.expires_at <= utcnow()):
        raise NotFound("invitation not found, already used or expired")
    if invitation.email != user.email:
        raise Forbidden("this invitation was sent to another e-mail address")
    existing = session.scalar(select(Membership).where(
        Membership.organization_id == invitation.organization_id,
        Membership.user_id == user.id))
    if existing is not None:
        raise Conflict("you are already a member of this organization")
    invitation.accepted_at = utcnow()
    membership = Membership(organization_id=invitation.organization_id, user_id=user.id,
                            role=invitation.role)
    session.add(membership)
    session.flush()
    return membership


def create_api_key(session: Session, tenant: Tenant, body: ApiKeyCreate) -> tuple[ApiKey, str]:
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise Problem("expires_at must be in the future", status=422,
                      slug="validation-error", title="Unprocessable content")
    secret = new_api_key()
    key = ApiKeys(session, tenant).add(ApiKey(
        name=body.name, prefix=secret.prefix, secret_hash=secret.secret_hash,
        scopes=sorted(set(body.scopes)), created_by_user_id=tenant.principal.user_id,
        expires_at=body.expires_at))
    audit.record(session, "api_key.created", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="api_key", target_id=key.id,
                 prefix=key.prefix, scopes=",".join(key.scopes))
    return key, secret.plaintext


def revoke_api_key(session: Session, tenant: Tenant, key_id: uuid.UUID) -> ApiKey:
    key = ApiKeys(session, tenant).get(key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, "api_key.revoked", organization_id=tenant.organization_id,
                     principal=tenant.principal, target_type="api_key", target_id=key.id)
    return key
