"""Raw pixels as a "backbone": the baseline a learned feature must beat.

Nothing is learned. ``forward`` describes an image by its pixels averaged down to a 16x16
grid (a global descriptor for kNN and linear probes); ``feature_maps`` describes each place
by the raw pixels of the 8x8 window around it, at strides 4 and 8 (for patch-level anomaly
scores). A model on a learned backbone that does no better than on these has learned
nothing about the parts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.backbones.base import Backbone, FeatureMap

RAW_PIXELS = "raw_pixels"
GRID = 16  # the global descriptor's side
WINDOW = 8  # the patch descriptor's side


class RawPixels(Backbone):
    stage_count = 2

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.feature_dim = in_channels * GRID * GRID

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> [N, C·16·16], the image averaged to 16x16."""
        return F.adaptive_avg_pool2d(x, GRID).flatten(1)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """[N, C, H, W] -> the raw 8x8 windows [N, C·64, H/4, W/4] (stride 4), and those of
        the image halved [N, C·64, H/8, W/8] (stride 8)."""
        return [FeatureMap(self._windows(x), 4),
                FeatureMap(self._windows(F.avg_pool2d(x, 2)), 8)]

    @staticmethod
    def _windows(x: torch.Tensor, stride: int = 4) -> torch.Tensor:
        height, width = x.shape[-2:]
        padded = F.pad(x, (WINDOW // 2 - stride // 2,) * 4, mode="replicate")
        windows = F.unfold(padded, WINDOW, stride=stride)  # [N, C·64, L]
        rows = (padded.shape[-2] - WINDOW) // stride + 1
        columns = (padded.shape[-1] - WINDOW) // stride + 1
        windows = windows.view(x.shape[0], -1, rows, columns)
        return windows[..., :math.ceil(height / stride), :math.ceil(width / stride)]
