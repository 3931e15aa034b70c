"""Bodies of the dataset endpoints: datasets, items and labels, uploads, versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.kit.requests import RequestModel

Split = Literal["train", "val", "test"]
# A class name becomes a folder name in the workers' views: no slashes, at most 200 characters.
CLASS_NAME_PATTERN = r"^[^/\\]+$"
ClassName = Annotated[str, Field(min_length=1, max_length=200, pattern=CLASS_NAME_PATTERN)]


def class_name_problem(name: str) -> str:
    """Why ``name`` cannot be a class name; "" when it can (the rule of ``ClassName``)."""
    if not 1 <= len(name) <= 200:
        return f"a class name has 1 to 200 characters, not {len(name)}"
    if "/" in name or "\\" in name:
        return f"a class name holds no slash: {name!r}"
    return ""




class DatasetCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, examples=["castings-2026-11"])
    description: str = Field("", max_length=2000)


class DatasetUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    created_at: datetime


class Box(RequestModel):
    """An axis-aligned box in pixels, origin at the top-left corner."""

    type: Literal["box"] = "box"
    class_name: ClassName
    x: float = Field(ge=0)
    y: float = Field(ge=0)
    width: float = Field(gt=0)
    height: float = Field(gt=0)


class Polygon(RequestModel):
    """A closed polygon in pixels: [[x, y], ...], at least three points."""

    type: Literal["polygon"] = "polygon"
    class_name: ClassName
    points: list[tuple[float, float]] = Field(min_length=3, max_length=10_000)


class Mask(RequestModel):
    """A binary mask as uncompressed COCO run-length encoding over [height, width]."""

    type: Literal["mask"] = "mask"
    class_name: ClassName
    size: tuple[int, int]
    counts: list[int] = Field(max_length=10_000_000)

    @model_validator(mode="after")
    def _counts_cover_the_mask(self) -> Mask:
        if sum(self.counts) != self.size[0] * self.size[1]:
            raise ValueError("counts must sum to height x width")
        return self


Annotation = Annotated[Box | Polygon | Mask, Field(discriminator="type")]


class Labels(RequestModel):
    """Everything known about one image; a field left out is cleared."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "class_name": "scratches", "is_defect": True, "split": "train",
        "annotations": [{"type": "box", "class_name": "scratches", "x": 12, "y": 40,
                         "width": 30, "height": 80}]}]})

    split: Split | None = None
    class_name: ClassName | None = None
    is_defect: bool | None = None
    annotations: list[Annotation] = Field(default_factory=list, max_length=1000)


class ItemOut(BaseModel):
    id: uuid.UUID
    path: str
    sha256: str
    width: int
    height: int
    size: int
    split: str | None
    class_name: str | None
    is_defect: bool | None
    labeled: bool
    annotations: list[dict]
    thumbnail_url: str
    created_at: datetime


class FileReportOut(BaseModel):
    path: str
    status: Literal["added", "duplicate", "replaced", "rejected"]
    detail: str = ""
    sha256: str | None = None
    item_id: str | None = None


class LabelImportReport(BaseModel):
    format: str
    matched: int
    unmatched: list[str]
    classes: list[str]


class IngestReportOut(BaseModel):
    added: int
    duplicate: int
    replaced: int
    rejected: int
    files: list[FileReportOut]
    labels: LabelImportReport | None = None  # labels read from the upload (class folders)


class UploadFileIn(RequestModel):
    name: str = Field(min_length=1, max_length=1000, examples=["line3/part_0001.png"])
    size: int = Field(gt=0)


class UploadCreate(RequestModel):
    files: list[UploadFileIn] = Field(min_length=1, max_length=10_000)


class UploadTarget(BaseModel):
    name: str
    url: str
    method: str = "PUT"


class UploadOut(BaseModel):
    id: uuid.UUID
    expires_in: int
    files: list[UploadTarget]


class VersionCreate(RequestModel):
    note: str = Field("", max_length=2000)


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    dataset_id: uuid.UUID
    number: int
    note: str
    stats: dict
    created_at: datetime
