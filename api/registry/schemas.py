from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["scratch-detector"])
    description: str = Field("", max_length=2000)


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    aliases: dict[str, uuid.UUID] = Field(default_factory=dict)


class VersionRegister(BaseModel):
    """Register the outcome of a succeeded job as the model's next version."""

    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID
    metrics: dict[str, float] = Field(default_factory=dict,
                                      description="extra metrics to record beside the job's")


class ModelVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    model_id: uuid.UUID
    version: int
    job_id: uuid.UUID | None
    dataset_version_id: uuid.UUID | None
    kind: str
    config: dict
    metrics: dict
    artifacts: dict
    created_at: datetime


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version_id: uuid.UUID


class ComparisonRow(BaseModel):
    model_version_id: uuid.UUID
    model: str
    version: int
    metrics: dict[str, float | None]


class Comparison(BaseModel):
    metrics: list[str]
    rows: list[ComparisonRow]
