"""Bodies of the organization, member, invitation, API key and audit endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.kit.requests import RequestModel
from api.models.tenants import Role


class OrganizationCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Castings"])


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    role: Role
    joined_at: datetime


class RoleChange(RequestModel):
    role: Role


class InvitationCreate(RequestModel):
    email: EmailStr
    role: Role = Role.member


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role
    expires_at: datetime
    accepted_at: datetime | None


class InvitationCreated(InvitationOut):
    token: str = Field(description="shown once: send it to the invitee")


class InvitationAccept(RequestModel):
    token: str = Field(min_length=10, max_length=200)


Scope = Literal["read", "write", "admin"]


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["line-3 camera uploader"])
    scopes: list[Scope] = Field(default_factory=lambda: ["read"], min_length=1)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once: the full key, hk_<prefix>_<secret>")


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    action: str
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    target_type: str
    target_id: str
    details: dict
