"""Configurations of the pipeline and probe jobs. Torch-free.

A pipeline runs its stages as child jobs, each with its own artifacts: pretrain; then, when
asked, a finetune of a defect model on the pretrained backbone and a kNN evaluation of the
backbone (given labeled train/test versions); then the registration of the finetuned model —
or, without a finetune stage, of the backbone — as a model version carrying the platform's
metrics. Analyze and plan stages slot in here as the engine gains them.
"""

from __future__ import annotations

from pydantic import Field

from engine.schemas.downstream_jobs import FinetuneJobConfig
from engine.schemas.eval import KnnEvalConfig
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.types import Float, StrictModel


class PipelineConfig(StrictModel):
    pretrain: PretrainConfig
    finetune: FinetuneJobConfig | None = None
    evaluate: KnnEvalConfig | None = None
    # the registered model the result becomes a new version of (created when missing);
    # None: "<task> model" with a finetune stage, else "pretrained backbone"
    model_name: str | None = Field(None, min_length=1, max_length=200)


class ProbeConfig(StrictModel):
    """Checks a worker end to end: where the job ran, on which devices; holds ``seconds``."""

    seconds: Float = Field(0.0, ge=0, le=3600)
