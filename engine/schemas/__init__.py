"""Job configurations shared by the CLI, the API and the workers. Torch-free."""

from engine.schemas.eval import EmbedConfig, KnnEvalConfig
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config

__all__ = ["EmbedConfig", "KnnEvalConfig", "PretrainConfig", "resolve_pretrain_config"]
