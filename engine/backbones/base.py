"""The base class of every backbone (its own module: each family subclasses it and the
registry imports the families)."""

from __future__ import annotations

from torch import nn


class Backbone(nn.Module):
    """``forward(x: [N, C, H, W]) -> [N, feature_dim]``: globally pooled features, no head."""

    feature_dim: int
