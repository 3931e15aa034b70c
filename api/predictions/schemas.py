from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class PredictionsOut(BaseModel):
    """Answered at once: one prediction per image, in the order sent. classify: ``class``
    and ``scores``; anomaly: ``score``, ``threshold``, ``verdict`` (good | defect) and, when
    asked, ``heatmap_url``; an image that could not be read: ``error``."""

    model_version_id: uuid.UUID
    task: str
    predictions: list[dict[str, Any]]
    seconds: float = Field(description="from the request to the answer, in the API")
    model_was_loaded: bool = Field(description="the prediction server held the model already")


class PredictionJobOut(BaseModel):
    """Too many images to answer at once: they became a dataset and a predict job, whose
    ``predictions`` artifact holds the answer when it succeeds."""

    job_id: uuid.UUID
    dataset_id: uuid.UUID
    status: str
