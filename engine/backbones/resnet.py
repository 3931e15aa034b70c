"""ResNet-18/50 from torchvision (weights=None) as pooled-feature backbones."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from engine.backbones.base import Backbone, FeatureMap
from engine.schemas.recipes import STAGE_COUNTS


def _stem_convolution(in_channels: int, out_channels: int, small_input: bool) -> nn.Conv2d:
    """The first convolution: 7x7 stride 2 as published, 3x3 stride 1 for small inputs."""
    if small_input:
        conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
    else:
        conv = nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # as torchvision
    return conv


class ResNetBackbone(Backbone):
    """torchvision ResNet without its classifier: [N, C, H, W] -> [N, 512 | 2048].

    ``small_input`` (the CIFAR variant, for images <= 96 px): the 7x7 stride-2 stem becomes
    a 3x3 stride-1 convolution and the max-pool goes, so a 64 px image keeps 64x64 maps in
    the first stage instead of 16x16.
    """

    stage_count = STAGE_COUNTS["resnet"]

    def __init__(self, name: str, in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        network = getattr(torchvision.models, name)(weights=None)
        network.conv1 = _stem_convolution(in_channels, network.conv1.out_channels, small_input)
        if small_input:
            network.maxpool = nn.Identity()
        self.feature_dim = network.fc.in_features
        network.fc = nn.Identity()
        self.network = network

        self.stem_stride = 1 if small_input else 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, feature_dim], globally average-pooled."""
        return self.network(x)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """The four residual stages' outputs, [N, 64|256 .. 512|2048, H/s, W/s]; strides
        4, 8, 16, 32 (1, 2, 4, 8 for the small-input stem)."""
        return self.shallow_maps(x, 4)

    def shallow_maps(self, x: torch.Tensor, depth: int) -> list[FeatureMap]:
        """The first ``depth`` residual stages' outputs; the deeper ones are not computed."""
        net = self.network
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        maps = []
        stages = (net.layer1, net.layer2, net.layer3, net.layer4)[:depth]
        for index, stage in enumerate(stages):
            x = stage(x)
            maps.append(FeatureMap(x, self.stem_stride * 2**index))
        return maps

    def pooled_and_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[FeatureMap]]:
        """One pass: the four stages' maps and the last one average-pooled, [N, feature_dim]
        (what ``forward`` computes)."""
        maps = self.feature_maps(x)
        return maps[-1].values.mean(dim=(2, 3)), maps
