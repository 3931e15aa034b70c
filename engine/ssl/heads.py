"""Projection and prediction heads: small MLPs on top of the backbone's pooled features.

Example::

    projector = mlp_head(512, 2048, 128, num_layers=2, batch_norm=False)   # MoCo v2
    z = projector(features)   # [N, 512] -> [N, 128]
"""

from __future__ import annotations

from torch import nn


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
    """Backbone followed by a projector: images [N, C, H, W] -> projections [N, out_dim]."""

    def __init__(self, backbone: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector

    def forward(self, images):
        return self.projector(self.backbone(images))
