"""Vision backbones: resnet18/50, vit_small/base, deit_small (patchify or conv stem), swin_tiny."""

from engine.backbones.base import Backbone
from engine.backbones.registry import build_backbone

__all__ = ["Backbone", "build_backbone"]
