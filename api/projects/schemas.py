from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.kit.requests import RequestModel


class ProjectCreate(RequestModel):

    name: str = Field(min_length=1, max_length=200, examples=["Line 3 castings"])
    description: str = Field("", max_length=2000)


class ProjectUpdate(RequestModel):

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
