"""Every backbone the engine builds, named once: its family and the width of its features.
Torch-free: the schemas, the recipes, the CLI's choices and the builder read this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["resnet", "vit", "swin"]


@dataclass(frozen=True)
class BackboneSpec:
    family: Family
    feature_dim: int  # width of the globally pooled features

    @property
    def is_transformer(self) -> bool:
        return self.family != "resnet"


BACKBONE_SPECS: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec("resnet", 512),
    "resnet50": BackboneSpec("resnet", 2048),
    "vit_small": BackboneSpec("vit", 384),
    "vit_base": BackboneSpec("vit", 768),
    "deit_small": BackboneSpec("vit", 384),
    "swin_tiny": BackboneSpec("swin", 768),
}
BACKBONES: tuple[str, ...] = tuple(BACKBONE_SPECS)
TRANSFORMER_BACKBONES: frozenset[str] = frozenset(
    name for name, spec in BACKBONE_SPECS.items() if spec.is_transformer)
