"""/api/v1/auth: sign-up, login, token refresh, logout, the current user."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.auth import service
from api.auth.schemas import (
    LoginRequest,
    MembershipOut,
    RefreshRequest,
    SignupRequest,
    TokenPair,
    UserOut,
)
from api.kit.deps import SessionDep, SettingsDep
from api.kit.problems import Unauthorized
from api.tenancy import CurrentUser, forget_authorizations
from api.tenants.repository import organizations_of
from api.tenants.service import create_organization

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenPair)
def signup(body: SignupRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Create a user and a new organization that the user owns; returns tokens."""
    user = service.create_user(session, body.email, body.password, body.display_name)
    create_organization(session, settings, body.organization_name, user)
    return service.issue_tokens(session, settings, user)


@router.post("/login", response_model=TokenPair,
             responses={401: {"description": "wrong e-mail or password"},
                        429: {"description": "too many failed logins"}})
def login(body: LoginRequest, request: Request, session: SessionDep,
          settings: SettingsDep) -> TokenPair:
    address = request.client.host if request.client else "unknown"
    tokens, _ = service.login(session, settings, body.email, body.password, address)
    if tokens is None:
        session.commit()  # keep the recorded failure: the rate limit counts it
        raise Unauthorized("wrong e-mail or password")
    return tokens


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    return service.refresh(session, settings, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, session: SessionDep, request: Request) -> None:
    """End the login: its refresh tokens and its access tokens stop working (in this API
    process at once; in others once their cached decision expires, ``auth_cache_seconds``)."""
    service.logout(session, body.refresh_token)
    session.commit()  # before the cache is cleared: no request re-caches the open login
    forget_authorizations(request)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser, session: SessionDep) -> UserOut:
    rows = organizations_of(session, user.id)
    return UserOut(
        id=user.id, email=user.email, display_name=user.display_name,
        is_platform_admin=user.is_platform_admin,
        memberships=[MembershipOut(organization_id=org.id, organization_name=org.name,
                                   role=m.role.value) for m, org in rows],
    )
