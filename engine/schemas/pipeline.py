"""Configurations of the pipeline and probe jobs. Torch-free.

A pipeline runs its stages as child jobs, each with its own artifacts: pretrain, then (when
labeled train/test versions are given) a kNN evaluation of the pretrained backbone, then the
registration of the backbone as a model version carrying the evaluation's metrics. Analyze,
plan and finetune stages slot in here as the engine gains them.
"""

from __future__ import annotations

from pydantic import Field

from engine.schemas.eval import KnnEvalConfig
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.types import Float, StrictModel


class PipelineConfig(StrictModel):
    pretrain: PretrainConfig
    evaluate: KnnEvalConfig | None = None
    # the registered model the result becomes a new version of (created when missing)
    model_name: str = Field("pretrained backbone", min_length=1, max_length=200)


class ProbeConfig(StrictModel):
    """Checks a worker end to end: where the job ran, on which devices; holds ``seconds``."""

    seconds: Float = Field(0.0, ge=0, le=3600)
