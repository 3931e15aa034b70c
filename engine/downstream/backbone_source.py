"""The backbone a downstream model starts from: a pretrain checkpoint's, or random weights.

A random-init backbone of the same architecture is the baseline every quality claim is
measured against: a pretrained feature that does not beat it has learned nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from engine.backbones import Backbone, build_backbone
from engine.backbones.pixels import RAW_PIXELS, RawPixels
from engine.data.folder import ImageFormat
from engine.eval.load import load_pretrained_backbone
from engine.schemas.finetune import BackboneSource
from engine.schemas.pretrain import BackboneConfig, CropConfig, PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config

RANDOM_INIT_IMAGE_SIZE = 224  # a random-init backbone gets the standard stem


@dataclass
class SourcedBackbone:
    backbone: Backbone
    recipe: dict[str, Any]  # rebuilds the same network (``rebuild_backbone``)
    image_size: int  # the network input it was pretrained at
    crop: CropConfig | None  # how its pretraining crops were cut (None: random init)
    image_format: ImageFormat | None  # None: random init, the data decides
    mean: list[float] | None
    std: list[float] | None

    @property
    def pretrained(self) -> bool:
        return self.crop is not None

    def pretrain_scale(self, height: int, width: int) -> float:
        """Network pixels per native pixel of a typical pretraining crop of a height x width
        image (1.0 for a random-init backbone): the scale its features know."""
        if self.crop is None:
            return 1.0
        low, high = self.crop.scale
        if self.crop.unit == "pixels":
            side = math.sqrt(low * high)
        else:
            side = math.sqrt(math.sqrt(low * high) * height * width)
        return self.image_size / max(1.0, side)


def load_backbone(source: BackboneSource, channels: int, device: torch.device
                  ) -> SourcedBackbone:
    """The backbone ``source`` names, on ``device``, in eval mode. ``channels`` is used only
    for a random-init one or raw pixels (a pretrained one keeps its own)."""
    if source.checkpoint is not None:
        pretrained = load_pretrained_backbone(source.checkpoint, device)
        return SourcedBackbone(
            pretrained.backbone, pretrained.config.backbone.model_dump(mode="json"),
            pretrained.setup.image_size, pretrained.setup.crop, pretrained.image_format,
            list(pretrained.setup.mean), list(pretrained.setup.std))
    if source.architecture == RAW_PIXELS:
        recipe: dict[str, Any] = {"name": RAW_PIXELS}
    else:
        recipe = resolve_pretrain_config(PretrainConfig.model_validate({
            "data": {"path": "-", "image_size": RANDOM_INIT_IMAGE_SIZE},
            "backbone": {"name": source.architecture}})).backbone.model_dump(mode="json")
    backbone = rebuild_backbone(recipe, channels).to(device).eval()
    return SourcedBackbone(backbone, recipe, RANDOM_INIT_IMAGE_SIZE, None, None, None, None)


def rebuild_backbone(recipe: dict[str, Any], channels: int) -> Backbone:
    """The network of a recipe (a resolved BackboneConfig, or raw pixels), random weights."""
    if recipe["name"] == RAW_PIXELS:
        return RawPixels(channels)
    return build_backbone(BackboneConfig.model_validate(recipe), channels, drop_path=0.0)
