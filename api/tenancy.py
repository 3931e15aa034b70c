"""Who is calling, for which organization, with which role: the one place tenancy lives.

Every request resolves a ``Principal`` (a user from a bearer access token, or an API key) and
then a ``Tenant``: the organization the request acts in and the role it acts with. Every
tenant-owned table is read and written through ``TenantRepository``, which adds
``organization_id = tenant`` to each query; a row of another organization is simply not
found (404), never forbidden, so ids leak nothing.

Choosing the organization: an API key belongs to one; a user names one in the
``X-Hatchery-Organization`` header, or needs none when a member of exactly one.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar

import anyio
from fastapi import Depends, Header, Request
from sqlalchemy import ScalarSelect, Select, bindparam, select
from sqlalchemy.orm import Session

from api.kit.db import TenantMixin, session_scope, utcnow
from api.kit.deps import SessionDep, SettingsDep
from api.kit.pagination import Page, PageParams, paginate
from api.kit.problems import Forbidden, NotFound, Problem, Unauthorized
from api.kit.security import read_access_token, sha256_hex, split_api_key
from api.kit.settings import Settings
from api.models.auth import ApiKey, RefreshToken, User
from api.models.tenants import ROLE_RANK, Membership, Role

SCOPE_ROLES = {"read": Role.viewer, "write": Role.member, "admin": Role.admin}
ORGANIZATION_HEADER = "X-Hatchery-Organization"


@dataclass(frozen=True)
class Principal:
    """Who calls, as plain values (safe to cache and to share between sessions)."""

    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    api_key_organization_id: uuid.UUID | None = None
    api_key_scopes: tuple[str, ...] = ()

    @classmethod
    def of_user(cls, user: User) -> Principal:
        return cls(user_id=user.id)

    @classmethod
    def of_api_key(cls, key: ApiKey) -> Principal:
        return cls(api_key_id=key.id, api_key_organization_id=key.organization_id,
                   api_key_scopes=tuple(key.scopes))


@dataclass(frozen=True)
class Tenant:
    organization_id: uuid.UUID
    role: Role
    principal: Principal

    def require(self, role: Role) -> None:
        """Refuse (403) a caller whose role is below ``role``."""
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise Forbidden(f"this action needs the {role.value} role; you have {self.role.value}")


def _bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <access token or API key>'")
    return token.strip()


def _api_key(session: Session, token: str) -> ApiKey:
    parts = split_api_key(token)
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[0])) if parts else None
    now = utcnow()
    if (key is None or not hmac.compare_digest(key.secret_hash, sha256_hex(parts[1]))
            or key.revoked_at is not None or (key.expires_at and key.expires_at <= now)):
        raise Unauthorized("the API key is unknown, revoked or expired")
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
    return key


def session_is_open(session: Session, session_id: uuid.UUID) -> bool:
    """Whether the login ``session_id`` has a refresh token that is neither revoked nor
    expired (logging out revokes them all, and with them its access tokens)."""
    return session.scalar(select(RefreshToken.id).where(
        RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > utcnow()).limit(1)) is not None


def resolve_principal(request: Request, session: Session, settings: Settings) -> Principal:
    """Who calls: an API key or a user's access token (memoized on the request)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = _bearer(request)
    if split_api_key(token) is not None:
        principal = Principal.of_api_key(_api_key(session, token))
    else:
        claims = read_access_token(token, settings.secret_key.get_secret_value())
        user = session.get(User, claims.user_id) if claims else None
        if user is None or not user.is_active or (
                claims.session_id is not None and not session_is_open(session, claims.session_id)):
            raise Unauthorized("the access token is invalid, expired or logged out")
        principal = Principal.of_user(user)
    request.state.principal = principal
    return principal


def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    return resolve_principal(request, session, settings)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def current_user(principal: PrincipalDep, session: SessionDep) -> User:
    if principal.user_id is None:
        raise Forbidden("this endpoint needs a user login, not an API key")
    user = session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the access token is invalid or expired")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


OrganizationHeader = Annotated[str | None, Header(
    alias=ORGANIZATION_HEADER, description="The organization to act in (users who belong to "
    "several); API keys belong to one")]


async def get_tenant(request: Request, organization: OrganizationHeader = None) -> Tenant:
    """The caller and the organization it acts in.

    A decision made in the last few seconds for the same token and organization is reused
    (``api.kit.auth_cache``); otherwise it is resolved in one thread-pool hop, in a unit of work
    of its own, committed at once (which gives its connection back to the pool: no request
    holds a connection while it waits for its next thread). Depends on nothing but the
    request: each dependency costs FastAPI a resolution step on every request.
    """
    cache = request.app.state.auth_cache
    key = (request.headers.get("Authorization", ""), organization)
    tenant = cache.get(key)
    if tenant is None:
        tenant = await anyio.to_thread.run_sync(_resolve_tenant, request, organization)
        cache.put(key, tenant)
    request.state.principal = tenant.principal
    return tenant


def forget_authorizations(request: Request) -> None:
    """After a change to who may do what, drop this process's cached decisions."""
    request.app.state.auth_cache.clear()


def _resolve_tenant(request: Request, organization: str | None) -> Tenant:
    state = request.app.state
    with session_scope(state.session_factory) as session:
        principal = resolve_principal(request, session, state.settings)
        return _choose_organization(principal, session, organization)


def _choose_organization(principal: Principal, session: Session,
                         organization: str | None) -> Tenant:
    if principal.api_key_id is not None:
        role = max((SCOPE_ROLES[s] for s in principal.api_key_scopes if s in SCOPE_ROLES),
                   key=ROLE_RANK.__getitem__, default=Role.viewer)
        return Tenant(principal.api_key_organization_id, role, principal)
    memberships = session.scalars(
        select(Membership).where(Membership.user_id == principal.user_id)).all()
    if organization is not None:
        try:
            wanted = uuid.UUID(organization)
        except ValueError:
            raise Problem(f"{ORGANIZATION_HEADER} must be an organization id") from None
        chosen = [m for m in memberships if m.organization_id == wanted]
        if not chosen:
            raise NotFound(f"organization {organization} not found")
    elif len(memberships) == 1:
        chosen = memberships
    elif not memberships:
        raise Forbidden("you are not a member of any organization")
    else:
        raise Problem(f"you belong to several organizations: name one in {ORGANIZATION_HEADER}")
    return Tenant(chosen[0].organization_id, chosen[0].role, principal)


TenantDep = Annotated[Tenant, Depends(get_tenant)]


async def writer(request: Request, organization: OrganizationHeader = None) -> Tenant:
    """The tenant of a caller with at least the member role (403 below it)."""
    tenant = await get_tenant(request, organization)
    tenant.require(Role.member)
    return tenant


async def administrator(request: Request, organization: OrganizationHeader = None) -> Tenant:
    """The tenant of a caller with at least the admin role (403 below it)."""
    tenant = await get_tenant(request, organization)
    tenant.require(Role.admin)
    return tenant


WriterDep = Annotated[Tenant, Depends(writer)]
AdminDep = Annotated[Tenant, Depends(administrator)]

@dataclass(frozen=True)
class OwnedBy:
    """One organization's data, for code that acts for it without a caller (a worker's
    pipeline registering the model it trained): what a ``TenantRepository`` needs of a
    ``Tenant``."""

    organization_id: uuid.UUID


Model = TypeVar("Model", bound=TenantMixin)


class TenantRepository(Generic[Model]):
    """Reads and writes of one tenant-owned table, always within one organization: the
    caller's (a ``Tenant``) or the one a worker acts for (``OwnedBy``)."""

    model: type[Model]
    noun: str = "resource"

    def __init__(self, session: Session, tenant: Tenant | OwnedBy) -> None:
        self.session = session
        self.tenant = tenant

    def select(self) -> Select[tuple[Model]]:
        return select(self.model).where(self.model.organization_id == self.tenant.organization_id)

    def find(self, id_: uuid.UUID, for_update: bool = False) -> Model | None:
        query = self.select().where(self.model.id == id_)
        return self.session.scalar(query.with_for_update() if for_update else query)

    def get(self, id_: uuid.UUID, for_update: bool = False) -> Model:
        """The row, or 404; ``for_update`` locks it until the commit (Postgres)."""
        row = self.find(id_, for_update)
        if row is None:
            raise NotFound(f"{self.noun} {id_} not found")
        return row

    def require(self, id_: uuid.UUID) -> None:
        """404 unless the row exists in the caller's organization (reads only its id)."""
        found = self.session.scalar(select(self.model.id).where(
            self.model.organization_id == self.tenant.organization_id, self.model.id == id_))
        if found is None:
            raise NotFound(f"{self.noun} {id_} not found")

    @classmethod
    def owned_id(cls, id_parameter: str) -> ScalarSelect:
        """A scalar subquery bound by ``organization_id`` and ``id_parameter``: the id when
        that row is the organization's, else NULL. Lets a caller check several ids in one
        round trip, with a statement it builds once."""
        return select(cls.model.id).where(
            cls.model.organization_id == bindparam("organization_id"),
            cls.model.id == bindparam(id_parameter)).scalar_subquery()

    def by_ids(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, Model]:
        """The rows among ``ids`` that are the organization's, by id (one round trip)."""
        if not ids:
            return {}
        return {row.id: row for row in self.session.scalars(
            self.select().where(self.model.id.in_(ids)))}

    def page(self, query: Select, params: PageParams,
             convert: Callable[[Any], Any] | None = None) -> Page:
        """One ``Page`` of ``query`` (built from ``select()``), its total included."""
        return paginate(self.session, query, params, convert)

    def add(self, row: Model) -> Model:
        row.organization_id = self.tenant.organization_id
        self.session.add(row)
        self.session.flush()
        return row

    def delete(self, row: Model) -> None:
        self.session.delete(row)
        self.session.flush()
