"""Whether a login is still open: read on every request that carries an access token."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.models import RefreshToken
from api.db import utcnow


def session_is_open(session: Session, session_id: uuid.UUID) -> bool:
    """Whether the login ``session_id`` has a refresh token that is neither revoked nor
    expired (logging out revokes them all)."""
    return session.scalar(select(RefreshToken.id).where(
        RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > utcnow()).limit(1)) is not None
