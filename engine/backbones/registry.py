"""``build_backbone``: a backbone by name from a resolved ``BackboneConfig``.

Every backbone maps images [N, C, H, W] to globally pooled features [N, feature_dim]. None
has a classifier head and none loads pretrained weights: everything learns from the user's data.

Example::

    backbone = build_backbone(config.backbone, in_channels=1)
    features = backbone(images)  # [N, 1, 64, 64] -> [N, 512] for resnet18
"""

from __future__ import annotations

from engine.backbones.base import Backbone
from engine.backbones.resnet import ResNetBackbone
from engine.backbones.swin import SwinBackbone
from engine.backbones.vit import VIT_ARCHITECTURES, VisionTransformer
from engine.schemas.backbones import BACKBONE_SPECS, BACKBONES
from engine.schemas.pretrain import BackboneConfig


def build_backbone(
    config: BackboneConfig, in_channels: int, drop_path: float | None = None
) -> Backbone:
    """The backbone ``config.name`` for images of ``in_channels`` channels (1 or 3).

    ``config`` must be resolved (``resolve_pretrain_config``): ``small_input`` a bool and,
    for transformers, ``patch_size`` an int. ``drop_path`` overrides ``config.drop_path``:
    a method's target encoder is built with 0.0 while the online one keeps the config's rate.
    ResNets have no stochastic depth and ignore it.
    """
    if config.name not in BACKBONES:
        raise ValueError(f"unknown backbone {config.name!r}; choose one of {', '.join(BACKBONES)}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be positive, got {in_channels}")
    if config.small_input == "auto":
        raise ValueError(
            "backbone.small_input is still 'auto': pass the config through "
            "resolve_pretrain_config before building the backbone"
        )
    rate = config.drop_path if drop_path is None else drop_path
    rate = 0.0 if rate is None else rate

    family = BACKBONE_SPECS[config.name].family
    if family == "resnet":
        if config.freeze_patch_embed:
            raise ValueError(f"freeze_patch_embed applies to transformers, not {config.name}")
        return ResNetBackbone(config.name, in_channels, small_input=config.small_input)

    patch_size = _resolved_patch_size(config)
    if family == "vit":
        return VisionTransformer(
            VIT_ARCHITECTURES[config.name],
            in_channels,
            patch_size=patch_size,
            stem=config.stem,
            drop_path=rate,
            freeze_patch_embed=config.freeze_patch_embed,
        )
    if config.stem != "patchify":
        raise ValueError(f"{config.name} has only the patchify stem, not {config.stem!r}")
    return SwinBackbone(
        in_channels,
        patch_size=patch_size,
        drop_path=rate,
        freeze_patch_embed=config.freeze_patch_embed,
    )


def _resolved_patch_size(config: BackboneConfig) -> int:
    """The transformer's patch size; an unresolved ``None`` is an error, not a silent default."""
    if config.patch_size is None:
        raise ValueError(
            f"backbone.patch_size is unset for {config.name}: pass the config through "
            "resolve_pretrain_config before building the backbone"
        )
    return config.patch_size
