"""Projection and prediction heads: small MLPs on top of the backbone's pooled features.

Example::

    projector = mlp_head(512, 2048, 128, num_layers=2, batch_norm=False)   # MoCo v2
    z = projector(features)   # [N, 512] -> [N, 128]
"""

from __future__ import annotations

import torch
from torch import nn

from engine.backbones.base import Backbone


def mlp_head(
    in_dim: int,
    hidden_dim: int,
    out_dim: int,
    num_layers: int,
    batch_norm: bool = True,
    last_batch_norm: bool = False,
) -> nn.Sequential:
    """[N, in_dim] -> [N, out_dim] through ``num_layers`` linear layers.

    Hidden layers are Linear (-> BatchNorm1d) -> ReLU. ``last_batch_norm`` appends a
    BatchNorm1d without affine parameters after the last layer (MoCo v3's projector).
    """
    if num_layers < 1:
        raise ValueError(f"a head needs at least one layer, got {num_layers}")
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers.append(nn.ReLU(inplace=True))
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim, bias=not last_batch_norm))
    if last_batch_norm:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Backbone followed by a projector: images [N, C, H, W] -> projections [N, out_dim].

    With a ``dense_projector`` (the local objective, ``engine.ssl.dense``) it also projects
    the map of stage ``dense_stage`` (1-based, shallow to deep) at every location.
    """

    def __init__(self, backbone: Backbone, projector: nn.Module,
                 dense_projector: nn.Module | None = None, dense_stage: int = 3) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.dense_projector = dense_projector
        self.dense_stage = dense_stage

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(images))

    def forward_dense(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [N, C, H, W] -> (projections [N, out_dim], dense projections
        [N, dense_dim, h, w] of stage ``dense_stage``), one backbone pass where it can."""
        if self.dense_projector is None:
            raise ValueError("this encoder has no dense projector")
        pooled, maps = self.backbone.pooled_and_maps(images)
        return self.projector(pooled), self.dense_projector(maps[self.dense_stage - 1].values)
