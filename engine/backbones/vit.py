"""Vision Transformer (ViT-S, ViT-B, DeiT-S) with a patchify or a convolutional stem.

Example::

    vit = VisionTransformer(VIT_ARCHITECTURES["vit_small"], in_channels=1, patch_size=8)
    features = vit(images)  # [N, 1, 64, 64] -> [N, 384], the final-norm class token

Stems (``stem``):

- ``"patchify"``: one p x p stride-p convolution (Dosovitskiy et al. 2021). MoCo v3 keeps it
  at its random initialization to stabilize training (``freeze_patch_embed``).
- ``"conv"``: log2(p) stacked 3x3 stride-2 Conv-BN-ReLU layers, widths doubling from dim/8
  (capped at dim), then a 1x1 convolution to dim (Xiao et al. 2021, "Early Convolutions Help
  Transformers See Better"). As in the paper, the encoder has one transformer block fewer
  (depth - 1) so the FLOPs stay about the same.

Position embeddings are fixed 2-D sine-cosine, computed (and cached) for the token grid of
each input, so any input whose sides are multiples of the patch size works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from engine.backbones.base import Backbone, FeatureMap
from engine.schemas.pretrain import Stem
from engine.schemas.recipes import STAGE_COUNTS

LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class ViTArchitecture:
    """Token width, number of transformer blocks and attention heads."""

    dim: int
    depth: int
    heads: int


VIT_ARCHITECTURES: dict[str, ViTArchitecture] = {
    "vit_small": ViTArchitecture(dim=384, depth=12, heads=6),
    "deit_small": ViTArchitecture(dim=384, depth=12, heads=6),  # DeiT's name for ViT-S
    "vit_base": ViTArchitecture(dim=768, depth=12, heads=12),
}


class SelfAttention(nn.Module):
    """Multi-head self-attention: [N, L, D] -> [N, L, D]."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, L, D] -> [N, L, D]."""
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [N, heads, L, D/heads]
        attended = F.scaled_dot_product_attention(query, key, value)  # [N, heads, L, D/heads]
        return self.proj(attended.transpose(1, 2).reshape(n, length, dim))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + mlp(norm(x)). [N, L, D] -> [N, L, D].

    Both residual branches are dropped per sample with probability ``drop_path`` in training.
    """

    def __init__(self, dim: int, heads: int, drop_path: float, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attention = SelfAttention(dim, heads)
        self.mlp_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim)
        )
        self.drop_path = StochasticDepth(drop_path, mode="row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, L, D] -> [N, L, D]."""
        x = x + self.drop_path(self.attention(self.attention_norm(x)))
        return x + self.drop_path(self.mlp(self.mlp_norm(x)))


class PatchifyStem(nn.Module):
    """[N, C, H, W] -> [N, D, H/p, W/p] with one p x p stride-p convolution."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.projection = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        # Xavier-uniform with fans over the flattened patch (C·p·p inputs, D outputs).
        nn.init.xavier_uniform_(self.projection.weight.view(dim, -1))
        nn.init.zeros_(self.projection.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, D, H/p, W/p]."""
        return self.projection(x)


class ConvStem(nn.Module):
    """[N, C, H, W] -> [N, D, H/p, W/p]: log2(p) 3x3 stride-2 Conv-BN-ReLU, then a 1x1 conv."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        halvings = round(math.log2(patch_size))
        if 2**halvings != patch_size:
            raise ValueError(f"the conv stem needs a power-of-two patch size, got {patch_size}")
        layers: list[nn.Module] = []
        channels, width = in_channels, max(dim // 8, 1)
        for _ in range(halvings):
            conv = nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels, width = width, min(2 * width, dim)
        layers.append(nn.Conv2d(channels, dim, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, D, H/p, W/p]."""
        return self.layers(x)


def sincos_position_embedding(height: int, width: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine embedding of a height x width token grid -> [height·width, dim].

    A quarter of the channels each: sin and cos of the column index, sin and cos of the row
    index, at geometrically spaced frequencies from 1 down to 1/10000. Rows are in raster order.
    """
    if dim % 4:
        raise ValueError(f"the embedding width must be a multiple of 4, got {dim}")
    quarter = dim // 4
    frequencies = 10000.0 ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, columns = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    column_angles = columns.reshape(-1, 1) * frequencies  # [h·w, D/4]
    row_angles = rows.reshape(-1, 1) * frequencies
    parts = [column_angles.sin(), column_angles.cos(), row_angles.sin(), row_angles.cos()]
    return torch.cat(parts, dim=1).float()


def _init_transformer_weights(module: nn.Module) -> None:
    """Truncated-normal(0.02) linear weights, zero biases, unit LayerNorm scales."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class VisionTransformer(Backbone):
    """ViT/DeiT encoder: [N, C, H, W] -> [N, dim], the final-norm class token.

    ``drop_path`` is the stochastic-depth rate of the last block; it rises linearly from 0 at
    the first. ``freeze_patch_embed`` (patchify stem only) keeps the patch projection's weight
    and bias at their random initialization. The conv stem removes one block (depth - 1).
    """

    stage_count = STAGE_COUNTS["vit"]  # the middle block's tokens and the last's

    def __init__(
        self,
        architecture: ViTArchitecture,
        in_channels: int = 3,
        patch_size: int = 16,
        stem: Stem = "patchify",
        drop_path: float = 0.0,
        freeze_patch_embed: bool = False,
    ) -> None:
        super().__init__()
        dim, depth = architecture.dim, architecture.depth
        self.feature_dim = dim
        self.patch_size = patch_size
        self.stem = self._build_stem(stem, in_channels, dim, patch_size, freeze_patch_embed)
        if stem == "conv":
            depth -= 1  # the conv stem costs about one block's FLOPs (Xiao et al. 2021)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        rates = torch.linspace(0.0, drop_path, depth).tolist()
        self.blocks = nn.Sequential(
            *(TransformerBlock(dim, architecture.heads, rate) for rate in rates)
        )
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self._position_cache: dict[tuple, torch.Tensor] = {}
        nn.init.trunc_normal_(self.class_token, std=0.02)
        self.blocks.apply(_init_transformer_weights)
        self.norm.apply(_init_transformer_weights)

    @staticmethod
    def _build_stem(
        stem: Stem, in_channels: int, dim: int, patch_size: int, freeze_patch_embed: bool
    ) -> nn.Module:
        """The patch embedding: [N, C, H, W] -> [N, D, H/p, W/p]."""
        if stem == "patchify":
            patchify = PatchifyStem(in_channels, dim, patch_size)
            patchify.projection.requires_grad_(not freeze_patch_embed)
            return patchify
        if stem == "conv":
            if freeze_patch_embed:
                raise ValueError(
                    "freeze_patch_embed freezes the patchify projection (MoCo v3); "
                    "the conv stem has none: use stem='patchify' or freeze_patch_embed=False"
                )
            return ConvStem(in_channels, dim, patch_size)
        raise ValueError(f"unknown ViT stem {stem!r}; choose 'patchify' or 'conv'")

    def _position_embedding(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """[height·width, D] on ``like``'s device and dtype, computed once per grid."""
        key = (height, width, like.device, like.dtype)
        if key not in self._position_cache:
            embedding = sincos_position_embedding(height, width, self.feature_dim)
            self._position_cache[key] = embedding.to(device=like.device, dtype=like.dtype)
        return self._position_cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] (H and W multiples of the patch size) -> [N, D]."""
        return self.norm(self.blocks(self._tokens(x)))[:, 0]

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, 1 + h·w, D]: the class token, then the patch tokens."""
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(
                f"input size {tuple(x.shape[-2:])} is not a multiple of the patch size "
                f"{self.patch_size}"
            )
        grid = self.stem(x)  # [N, D, h, w]
        n, _, height, width = grid.shape
        tokens = grid.flatten(2).transpose(1, 2)  # [N, h·w, D]
        tokens = tokens + self._position_embedding(height, width, tokens)
        class_token = self.class_token.expand(n, -1, -1).to(tokens.dtype)  # [N, 1, D]
        return torch.cat([class_token, tokens], dim=1)

    def feature_maps(self, x: torch.Tensor) -> list[FeatureMap]:
        """The patch tokens after the middle block and after the last (normalized), as
        maps [N, D, H/p, W/p], both of stride p."""
        height, width = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        tokens = self._tokens(x)
        middle = len(self.blocks) // 2
        maps = []
        for index, block in enumerate(self.blocks, 1):
            tokens = block(tokens)
            if index == middle:
                maps.append(tokens)
        maps.append(self.norm(tokens))
        return [FeatureMap(map_[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, height, width),
                           self.patch_size) for map_ in maps]
