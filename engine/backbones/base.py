"""The base class of every backbone (its own module: each family subclasses it and the
registry imports the families)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FeatureMap:
    """Dense features of one stage: ``values`` [N, C, H/stride, W/stride]."""

    values: torch.Tensor
    stride: int


class Backbone(nn.Module):
    """``forward(x: [N, C, H, W]) -> [N, feature_dim]``: globally pooled features, no head.

    ``feature_maps(x)`` gives the dense maps of its stages, shallow to deep, for the models
    that need local evidence (patch-level anomaly scores, detection, segmentation)."""

    feature_dim: int
    stage_count: int  # how many maps ``feature_maps`` returns

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """x: [N, C, H, W] -> the stages' maps, shallow to deep."""
        raise NotImplementedError

    def shallow_maps(self, x: torch.Tensor, depth: int) -> list[FeatureMap]:
        """x: [N, C, H, W] -> the maps of the first ``depth`` stages, shallow to deep. This
        default computes every stage; a family that can stop early overrides it."""
        return self.feature_maps(x)[:depth]

    def pooled_and_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[FeatureMap]]:
        """x: [N, C, H, W] -> (forward(x) [N, feature_dim], feature_maps(x)), for training
        a global and a local objective at once. This default runs the network twice; a
        family whose pooled features pool its last map overrides it with one pass."""
        return self(x), self.feature_maps(x)
