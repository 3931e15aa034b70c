"""Sign-up, login with rate limiting, refresh-token rotation, logout."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from api import audit
from api.auth.schemas import TokenPair
from api.kit.db import utcnow
from api.kit.problems import Conflict, RateLimited, Unauthorized
from api.kit.security import (
    hash_password,
    issue_access_token,
    random_token,
    sha256_hex,
    verify_password,
)
from api.kit.settings import Settings
from api.models.auth import LoginFailure, RefreshToken, User
from api.models.tenants import Membership
from api.tenancy import Principal


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, email: str, password: str, display_name: str = "") -> User:
    email = normalize_email(email)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, password_hash=hash_password(password), display_name=display_name)
    session.add(user)
    session.flush()
    return user


def issue_tokens(session: Session, settings: Settings, user: User,
                 session_id: uuid.UUID | None = None) -> TokenPair:
    """A refresh and an access token of the login ``session_id`` (a new login when None)."""
    session_id = session_id or uuid.uuid4()
    refresh = random_token()
    session.add(RefreshToken(
        user_id=user.id, token_hash=sha256_hex(refresh), session_id=session_id,
        expires_at=utcnow() + timedelta(days=settings.refresh_token_days)))
    ttl = settings.access_token_minutes * 60
    access = issue_access_token(user.id, settings.secret_key.get_secret_value(), ttl,
                                session_id)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def backoff_seconds(failures: int, limit: int, window_seconds: int) -> float:
    """The pause after ``failures`` recent failures: none below ``limit``, then 1 s, doubling
    with every further failure, at most the window."""
    if failures < limit:
        return 0.0
    return float(min(window_seconds, 2 ** min(failures - limit, 30)))


def _check_rate_limit(session: Session, settings: Settings, email: str, address: str) -> None:
    """Refuse (429 with Retry-After) a login too soon after repeated failures — counted per
    account (its e-mail, from anywhere) and per client address (any e-mail), each against
    its own limit, with a pause that doubles rather than a lockout: failures for one
    account never hold back another account, whoever caused them."""
    now = utcnow()
    since = now - timedelta(seconds=settings.login_window_seconds)

    def failures(column, value) -> tuple[int, Any]:
        return session.execute(select(func.count(), func.max(LoginFailure.created_at)).where(
            LoginFailure.created_at >= since, column == value)).one()

    waits = []
    for (count, last), limit in ((failures(LoginFailure.email, email),
                                  settings.login_failures_per_window),
                                 (failures(LoginFailure.address, address),
                                  settings.login_failures_per_address)):
        pause = backoff_seconds(count, limit, settings.login_window_seconds)
        if pause and last is not None:
            waits.append(pause - (now - last).total_seconds())
    wait = max(waits, default=0.0)
    if wait > 0:
        seconds = math.ceil(wait)
        raise RateLimited(f"too many failed logins; try again in {seconds} s",
                          retry_after=seconds)


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
    session.execute(delete(LoginFailure).where(LoginFailure.email == email,
                                               LoginFailure.address == address))
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
    return issue_tokens(session, settings, user, row.session_id)


def logout(session: Session, token: str) -> None:
    """End the login the refresh token belongs to: every refresh token of it is revoked,
    and so every access token it issued stops working."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token)))
    if row is None:
        return
    if row.session_id is None:
        row.revoked_at = row.revoked_at or utcnow()
        return
    session.execute(update(RefreshToken).where(RefreshToken.session_id == row.session_id,
                                               RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))

