"""Job configurations shared by the CLI, the API and the workers. Torch-free."""

from engine.errors import JobConfigError
from engine.schemas.eval import EmbedConfig, KnnEvalConfig
from engine.schemas.kinds import KINDS, JobKind, Reference, validate_job
from engine.schemas.pipeline import PipelineConfig, ProbeConfig
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config

__all__ = ["KINDS", "EmbedConfig", "JobConfigError", "JobKind", "KnnEvalConfig",
           "PipelineConfig", "PretrainConfig", "ProbeConfig", "Reference",
           "resolve_pretrain_config", "validate_job"]
