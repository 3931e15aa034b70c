"""The plan job's configuration: analyze a dataset version and plan the self-supervised
subtasks and the downstream model for a goal (``engine.planning.plan``). Torch-free."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.schemas.types import Float, StrictModel

PlanTask = Literal["classify", "anomaly", "detect", "segment"]
PlanDevice = Literal["cpu", "cuda"]
# the longest budget a plan accepts: a week
MAX_BUDGET_MINUTES = 7 * 24 * 60


class PlanJobConfig(StrictModel):
    """``data``: the dataset version (``version://<id>``); ``task``: the goal (sort into
    classes, find anything abnormal, locate or outline defects); the time the whole recipe
    may take, and where it runs."""

    data: str = Field(min_length=1, max_length=4096)
    task: PlanTask = "anomaly"
    budget_minutes: Float = Field(20.0, gt=0, le=MAX_BUDGET_MINUTES)
    device: PlanDevice = "cpu"
