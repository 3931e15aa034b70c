from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.kit.requests import RequestModel
from api.models.jobs import JobStatus


class JobCreate(RequestModel):
    """A job: its kind, the ids it works on, and the engine config of that kind."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "pretrain", "name": "castings, first try",
        "inputs": {"dataset_version_id": "7b0e6f1e-3a4d-4f0e-9d55-2f1f4a1c0b7e"},
        "config": {"method": "hatchery", "backbone": {"name": "resnet18"}, "epochs": 50,
                   "data": {"image_size": 96}}}]})

    kind: str = Field(min_length=1, max_length=32)
    name: str = Field("", max_length=200)
    priority: int = Field(0, ge=-10, le=10)
    # None: one GPU where the installation has GPU workers, else the CPU
    gpus: int | None = Field(None, ge=0, le=64)
    inputs: dict[str, uuid.UUID] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    kind: str
    name: str
    status: JobStatus
    priority: int
    gpus: int
    queue: str
    inputs: dict
    config: dict
    attempts: int
    cancel_requested: bool
    progress: dict
    result: dict
    artifacts: dict
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parent_id: uuid.UUID | None


class JobEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    kind: str
    step: int | None
    data: dict


class MetricSeries(BaseModel):
    """Each metric as [[step, value], ...], in step order."""

    series: dict[str, list[tuple[int, float]]]


class SuggestedImageRef(BaseModel):
    """An image a suggest job names: its path in the dataset version, the dataset item
    that holds it now (None when it was deleted since) and its thumbnail."""

    path: str
    item_id: uuid.UUID | None
    thumbnail_url: str | None


class SuggestedImage(SuggestedImageRef):
    score: float
    reasons: list[str] = Field(description="in plain words, why it comes next")


class SuspectLabel(SuggestedImageRef):
    label: str
    neighbours_say: str = Field(description="the class its labeled neighbours vote for")
    confidence: float


class NearDuplicate(BaseModel):
    first: SuggestedImageRef
    second: SuggestedImageRef
    similarity: float


class SuggestionsOut(BaseModel):
    """A succeeded suggest job's answer: the images to label next (best first), labels
    their neighbours contradict, and near-duplicate pairs."""

    job_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version_id: uuid.UUID
    images: int
    labeled: int
    ranked: list[SuggestedImage]
    suspect_labels: list[SuspectLabel]
    near_duplicates: list[NearDuplicate]
