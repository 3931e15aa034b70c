"""Job configurations shared by the CLI, the API and the workers. Torch-free."""

from engine.schemas.eval import EmbedConfig, KnnEvalConfig
from engine.schemas.pipeline import PIPELINE_STAGES, PipelineConfig, ProbeConfig
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config

__all__ = ["PIPELINE_STAGES", "EmbedConfig", "KnnEvalConfig", "PipelineConfig",
           "PretrainConfig", "ProbeConfig", "resolve_pretrain_config"]
