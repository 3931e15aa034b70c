"""Tenant-scoped access to an organization's members, invitations, API keys and audit log
(queries live here, not in the router or the service)."""

from __future__ import annotations

import uuid

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from api.models.auth import ApiKey, User
from api.models.tenants import AuditEvent, Invitation, Membership, Organization, Role
from api.tenancy import TenantRepository


class Memberships(TenantRepository[Membership]):
    model, noun = Membership, "member"

    def with_users(self) -> list[Row[tuple[Membership, User]]]:
        """(membership, user) of every member, by e-mail."""
        return self.session.execute(
            select(Membership, User).join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == self.tenant.organization_id)
            .order_by(User.email)).all()

    def of_user(self, user_id: uuid.UUID) -> Membership | None:
        return self.session.scalar(self.select().where(Membership.user_id == user_id))

    def owners(self) -> int:
        return int(self.session.scalar(select(func.count()).where(
            Membership.organization_id == self.tenant.organization_id,
            Membership.role == Role.owner)))


class Invitations(TenantRepository[Invitation]):
    model, noun = Invitation, "invitation"

    def newest_first(self) -> list[Invitation]:
        return list(self.session.scalars(self.select().order_by(Invitation.created_at.desc())))


class ApiKeys(TenantRepository[ApiKey]):
    model, noun = ApiKey, "API key"

    def newest_first(self) -> list[ApiKey]:
        return list(self.session.scalars(self.select().order_by(ApiKey.created_at.desc())))


class AuditEvents(TenantRepository[AuditEvent]):
    model, noun = AuditEvent, "audit event"

    def latest(self, limit: int, action: str | None = None) -> list[AuditEvent]:
        query = self.select()
        if action:
            query = query.where(AuditEvent.action == action)
        return list(self.session.scalars(query.order_by(AuditEvent.created_at.desc())
                                         .limit(limit)))


def organizations_of(session: Session, user_id: uuid.UUID
                     ) -> list[Row[tuple[Membership, Organization]]]:
    """(membership, organization) of every organization a user belongs to, by name: the one
    query that crosses organizations, and only a user's own."""
    return session.execute(
        select(Membership, Organization).join(Organization)
        .where(Membership.user_id == user_id).order_by(Organization.name)).all()
