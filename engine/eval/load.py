"""The online backbone of a pretrain checkpoint, with how it expects its images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.backbones import build_backbone
from engine.checkpoint import BACKBONE_PREFIX, load_checkpoint
from engine.data.folder import ImageFormat
from engine.eval.features import EmbeddingSetup
from engine.schemas.pretrain import PretrainConfig


@dataclass
class PretrainedBackbone:
    backbone: nn.Module
    setup: EmbeddingSetup
    image_format: ImageFormat
    config: PretrainConfig


def load_pretrained_backbone(path: str | Path, device: torch.device, max_tiles: int = 16
                             ) -> PretrainedBackbone:
    """Rebuild the backbone named in the checkpoint's config and load its trained weights."""
    state = load_checkpoint(path, map_location="cpu")
    config = PretrainConfig.model_validate(state["config"])
    data = state["data"]
    backbone = build_backbone(config.backbone, data["channels"], drop_path=0.0)
    weights = {
        name[len(BACKBONE_PREFIX):]: tensor
        for name, tensor in state["method"].items()
        if name.startswith(BACKBONE_PREFIX)
    }
    backbone.load_state_dict(weights)
    setup = EmbeddingSetup(
        config.data.image_size, config.augment.crop, data["mean"], data["std"], max_tiles
    )
    image_format = ImageFormat(channels=data["channels"], bit_depth=data["bit_depth"])
    return PretrainedBackbone(backbone.to(device).eval(), setup, image_format, config)
