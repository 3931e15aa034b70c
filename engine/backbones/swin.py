"""Swin-T from torchvision (weights=None) as a pooled-feature backbone."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.swin_transformer import SwinTransformer

from engine.backbones.base import Backbone, FeatureMap
from engine.schemas.recipes import STAGE_COUNTS


class SwinBackbone(Backbone):
    """Swin-T without its classifier: [N, C, H, W] -> [N, 768].

    swin_t's hyper-parameters (embed 96, depths 2-2-6-2, heads 3-6-12-24, window 7), built
    through ``SwinTransformer`` so the patch size can change: 4 as published, 2 for small
    inputs (a 64 px image then has 32x32 tokens in the first stage). ``drop_path`` is the
    stochastic-depth rate of the last block; torchvision raises it linearly from 0.
    ``freeze_patch_embed`` keeps the patch projection at its random initialization.
    """

    stage_count = STAGE_COUNTS["swin"]

    def __init__(
        self,
        in_channels: int = 3,
        patch_size: int = 4,
        drop_path: float = 0.0,
        freeze_patch_embed: bool = False,
    ) -> None:
        super().__init__()
        network = SwinTransformer(
            patch_size=[patch_size, patch_size],
            embed_dim=96,
            depths=[2, 2, 6, 2],
            num_heads=[3, 6, 12, 24],
            window_size=[7, 7],
            stochastic_depth_prob=drop_path,
        )
        patch_embedding = network.features[0]  # Conv2d, then Permute to NHWC, then LayerNorm
        if in_channels != 3:
            width = patch_embedding[0].out_channels
            patch_embedding[0] = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
        if freeze_patch_embed:
            patch_embedding[0].requires_grad_(False)
        self.feature_dim = network.head.in_features
        self.patch_size = patch_size
        network.head = nn.Identity()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, 768], the average of the last stage's normalized tokens."""
        return self.network(x)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """The four stages' outputs [N, 96 .. 768, H/s, W/s]; strides p, 2p, 4p, 8p for
        patch size p."""
        return self.shallow_maps(x, self.stage_count)

    def shallow_maps(self, x: torch.Tensor, depth: int) -> list[FeatureMap]:
        """The first ``depth`` stages' outputs; the deeper ones are not computed."""
        maps: list[FeatureMap] = []
        stride = self.patch_size
        for index, layer in enumerate(self.network.features):
            if len(maps) == depth:
                break
            x = layer(x)  # NHWC
            if index % 2 == 1:  # a stage's blocks (even indices embed or merge patches)
                maps.append(FeatureMap(x.permute(0, 3, 1, 2), stride))
                stride *= 2
        return maps
