from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.kit.requests import RequestModel


class ModelCreate(RequestModel):

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


class VersionRegister(RequestModel):
    """Register the model a succeeded job left as the model's next version. Its metrics are
    the platform's own (the job's and its evaluations'); notes are the user's, kept apart
    and never ranked."""


    job_id: uuid.UUID
    notes: str = Field("", max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _no_typed_metrics(cls, data: Any) -> Any:
        if isinstance(data, dict) and "metrics" in data:
            raise ValueError("metrics come from the platform's own evaluation jobs; put your "
                             "own figures in notes")
        return data


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
    notes: str
    artifacts: dict
    created_at: datetime


class AliasSet(RequestModel):

    model_version_id: uuid.UUID


class ComparisonRow(BaseModel):
    model_version_id: uuid.UUID
    model: str
    version: int
    metrics: dict[str, float | None]
    task: str = Field(description="classify, anomaly or backbone: rows rank within a task")
    primary_metric: str | None = Field(
        description="the metric the task is judged by (balanced_accuracy, image_auroc, "
                    "knn.k=<k>.balanced_accuracy); None when the version has none")
    rank: int | None = Field(description="1 = the best of the compared versions of its task")


class Comparison(BaseModel):
    metrics: list[str]
    rows: list[ComparisonRow]


class CurvePoint(BaseModel):
    x: float
    y: float


class Curve(BaseModel):
    """ROC (x: false-positive rate, y: true-positive rate) and precision-recall (x: recall,
    y: precision) of one positive label: "defect" for an anomaly model, each class against
    the rest for a classifier."""

    label: str
    auc: float
    average_precision: float
    roc: list[CurvePoint]
    pr: list[CurvePoint]


class EvaluatedImage(BaseModel):
    """One validation image: its path in the dataset version, its true and predicted label,
    the score (anomaly: the image score; classify: the predicted class's probability) and a
    picture (its heat map, or a small copy) when one was kept."""

    path: str
    true: str
    predicted: str
    score: float
    picture_url: str | None = None


class ModelEvaluation(BaseModel):
    """What the platform measured of a model version on its validation images."""

    model_version_id: uuid.UUID
    task: str = Field(description="classify or anomaly")
    class_names: list[str] = Field(description="the confusion matrix's order")
    threshold: float | None = Field(description="anomaly: the score from which a part is "
                                                "called defective")
    confusion_matrix: list[list[int]] = Field(description="rows: true, columns: predicted")
    curves: list[Curve]
    images_total: int
    images: list[EvaluatedImage] = Field(description="at most 200, misclassified first")
