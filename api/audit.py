"""Writing the audit log: one call per auditable action, in the request's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from api.models.tenants import AuditEvent
from api.tenancy import Principal


def record(session: Session, action: str, *, organization_id: uuid.UUID | None,
           principal: Principal | None = None, target_type: str = "", target_id: Any = "",
           **details: Any) -> None:
    session.add(AuditEvent(
        organization_id=organization_id,
        actor_user_id=principal.user_id if principal else None,
        actor_api_key_id=principal.api_key_id if principal else None,
        action=action, target_type=target_type, target_id=str(target_id or ""),
        details={key: str(value) for key, value in details.items()},
    ))
