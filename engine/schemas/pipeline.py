"""Configurations of the pipeline and probe jobs. Torch-free.

A pipeline runs its stages as child jobs, each with its own artifacts: pretrain; then, when
asked, a finetune of a defect model on the pretrained backbone and a kNN evaluation of the
backbone (given labeled train/test versions); then the registration of the finetuned model —
or, without a finetune stage, of the backbone — as a model version carrying the platform's
metrics.

With ``plan: auto`` a plan stage runs first: it analyzes the pretrain's dataset version and
plans the recipe for the finetune's task (anomaly without a finetune stage) within
``budget_minutes`` (``engine.planning.plan``); the pretrain stage then runs the plan's
config on the same data, whatever else the pretrain section says, and the pipeline keeps the
plan and its reasons in its result.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.schemas.downstream_jobs import FinetuneJobConfig
from engine.schemas.eval import KnnEvalConfig
from engine.schemas.planning import MAX_BUDGET_MINUTES
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.types import Float, StrictModel


class PipelineConfig(StrictModel):
    # "auto": the engine plans the pretraining from the data and the task (a plan stage)
    plan: Literal["auto"] | None = None
    budget_minutes: Float = Field(20.0, gt=0, le=MAX_BUDGET_MINUTES)
    pretrain: PretrainConfig
    finetune: FinetuneJobConfig | None = None
    evaluate: KnnEvalConfig | None = None
    # the registered model the result becomes a new version of (created when missing);
    # None: "<task> model" with a finetune stage, else "pretrained backbone"
    model_name: str | None = Field(None, min_length=1, max_length=200)


class ProbeConfig(StrictModel):
    """Checks a worker end to end: where the job ran, on which devices; holds ``seconds``."""

    seconds: Float = Field(0.0, ge=0, le=3600)
