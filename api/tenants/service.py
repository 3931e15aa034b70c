"""Members, roles, invitations and API keys of the caller's organization."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.kit.db import utcnow
from api.kit.problems import Conflict, Forbidden, NotFound, Problem
from api.kit.security import new_api_key, random_token, sha256_hex
from api.kit.settings import Settings
from api.models.auth import ApiKey, User
from api.models.tenants import ROLE_RANK, Invitation, Membership, Organization, Role
from api.tenancy import OwnedBy, Tenant
from api.tenants.repository import ApiKeys, Memberships
from api.tenants.schemas import ApiKeyCreate


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "org"
    return f"{slug}-{uuid.uuid4().hex[:6]}"


def create_organization(session: Session, settings: Settings, name: str, owner: User
                        ) -> Organization:
    organization = Organization(
        name=name, slug=slugify(name),
        storage_bytes_quota=settings.default_storage_bytes,
        images_per_dataset_quota=settings.default_images_per_dataset,
        concurrent_jobs_quota=settings.default_concurrent_jobs,
        gpu_hours_per_month_quota=settings.default_gpu_hours_per_month,
    )
    session.add(organization)
    session.flush()
    session.add(Membership(organization_id=organization.id, user_id=owner.id, role=Role.owner))
    session.flush()
    return organization


def _membership(session: Session, tenant: Tenant, user_id: uuid.UUID) -> Membership:
    row = Memberships(session, tenant).of_user(user_id)
    if row is None:
        raise NotFound(f"member {user_id} not found")
    return row


def _owners(session: Session, tenant: Tenant) -> int:
    return Memberships(session, tenant).owners()


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
    existing = Memberships(session, OwnedBy(invitation.organization_id)).of_user(user.id)
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
