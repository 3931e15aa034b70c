"""Sign-up, login with rate limiting, refresh-token rotation, logout."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api import audit
from api.auth.models import LoginFailure, RefreshToken, User
from api.auth.schemas import TokenPair
from api.db import utcnow
from api.problems import Conflict, RateLimited, Unauthorized
from api.security import (
    hash_password,
    issue_access_token,
    random_token,
    sha256_hex,
    verify_password,
)
from api.settings import Settings
from api.tenancy import Principal
from api.tenants.models import Membership, Organization, Role


def normalize_email(email: str) -> str:
    return email.strip().lower()


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


def create_user(session: Session, email: str, password: str, display_name: str = "") -> User:
    email = normalize_email(email)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, password_hash=hash_password(password), display_name=display_name)
    session.add(user)
    session.flush()
    return user


def issue_tokens(session: Session, settings: Settings, user: User) -> TokenPair:
    refresh = random_token()
    session.add(RefreshToken(
        user_id=user.id, token_hash=sha256_hex(refresh),
        expires_at=utcnow() + timedelta(days=settings.refresh_token_days)))
    ttl = settings.access_token_minutes * 60
    access = issue_access_token(user.id, settings.secret_key.get_secret_value(), ttl)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def _check_rate_limit(session: Session, settings: Settings, email: str, address: str) -> None:
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    failures = session.scalar(
        select(func.count()).select_from(LoginFailure).where(
            LoginFailure.created_at >= since,
            or_(LoginFailure.email == email, LoginFailure.address == address)))
    if failures >= settings.login_failures_per_window:
        raise RateLimited(
            f"too many failed logins; try again in {settings.login_window_seconds} s",
            retry_after=settings.login_window_seconds)


def login(session: Session, settings: Settings, email: str, password: str, address: str
          ) -> tuple[TokenPair | None, User | None]:
    """Tokens for valid credentials. A failure is recorded (and must be committed by the
    caller) before the 401 is raised, so the rate limit sees it."""
    email = normalize_email(email)
    _check_rate_limit(session, settings, email, address)
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        session.add(LoginFailure(email=email, address=address))
        return None, None
    organizations = session.scalars(
        select(Membership.organization_id).where(Membership.user_id == user.id)).all()
    for organization_id in organizations or [None]:  # each organization's admins see it
        audit.record(session, "login", organization_id=organization_id,
                     principal=Principal.of_user(user), address=address)
    return issue_tokens(session, settings, user), user


def refresh(session: Session, settings: Settings, token: str) -> TokenPair:
    """Rotate: the presented refresh token is revoked and a new pair issued."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise Unauthorized("the refresh token is invalid, revoked or expired")
    row.revoked_at = utcnow()
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the account is disabled")
    return issue_tokens(session, settings, user)


def logout(session: Session, token: str) -> None:
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
