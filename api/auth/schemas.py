"""Request and response bodies of /api/v1/auth."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.kit.requests import RequestModel


class SignupRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "email": "ana@example.com", "password": "correct horse battery",
        "organization_name": "Acme Castings"}]})

    email: EmailStr
    password: str = Field(min_length=10, max_length=200)
    organization_name: str = Field(min_length=1, max_length=200)
    display_name: str = Field("", max_length=200)


class LoginRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "email": "ana@example.com", "password": "correct horse battery"}]})

    email: EmailStr
    password: str = Field(max_length=200)


class RefreshRequest(RequestModel):

    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class MembershipOut(BaseModel):
    organization_id: uuid.UUID
    organization_name: str
    role: str


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    is_platform_admin: bool
    memberships: list[MembershipOut]
