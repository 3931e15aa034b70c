"""Frozen backbone features of whole images, L2-normalized.

Training crops are cut at native resolution and resized to the network input, so at eval
time an image larger than that is cut into a grid of tiles of the size training crops had
on average, and the tiles' features are averaged. A hairline crack stays as visible as it
was during training instead of vanishing in a whole-image resize.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.augment import normalize
from engine.data.crops import crop_and_resize, grid_tile_boxes
from engine.schemas.pretrain import CropConfig


@dataclass(frozen=True)
class EmbeddingSetup:
    """How a checkpoint's backbone expects its images (read from the checkpoint)."""

    image_size: int
    crop: CropConfig
    mean: Sequence[float]
    std: Sequence[float]
    max_tiles: int = 16

    def tile_side(self, height: int, width: int) -> int:
        """Native side of an eval tile: the typical side of a training crop of this image."""
        low, high = self.crop.scale
        if self.crop.unit == "pixels":
            side = math.sqrt(low * high)
        else:
            side = math.sqrt(math.sqrt(low * high) * height * width)
        return max(1, min(round(side), height, width))


def tiles_of(image: torch.Tensor, setup: EmbeddingSetup) -> torch.Tensor:
    """uint8 [C, H, W] -> normalized tiles [T, C, S, S]."""
    height, width = image.shape[1:]
    boxes = grid_tile_boxes(height, width, setup.tile_side(height, width), setup.max_tiles)
    boxes = boxes.to(image.device)
    stacked = image.unsqueeze(0).expand(boxes.shape[0], -1, -1, -1)
    return normalize(crop_and_resize(stacked, boxes, setup.image_size), setup.mean, setup.std)


@torch.no_grad()
def embed_images(
    backbone: nn.Module,
    images: Iterable[torch.Tensor],
    setup: EmbeddingSetup,
    device: torch.device,
    batch_tiles: int = 256,
) -> torch.Tensor:
    """Mean tile feature of every uint8 [C, H, W] image, L2-normalized -> [N, D] on ``device``.

    Tiles of several images share one forward pass of up to ``batch_tiles`` tiles.
    """
    was_training = backbone.training
    backbone.eval()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    pooled: list[torch.Tensor] = []
    pending_tiles: list[torch.Tensor] = []
    pending_owner: list[int] = []

    def flush() -> None:
        tiles = torch.cat(pending_tiles)
        owners = torch.tensor(pending_owner, device=device)
        with autocast:
            features = backbone(tiles).float()
        first = pending_owner[0]
        sums = torch.zeros(pending_owner[-1] - first + 1, features.shape[1], device=device)
        sums.index_add_(0, owners - first, features)
        counts = torch.bincount(owners - first).clamp_min(1).unsqueeze(1)
        pooled.append(sums / counts)
        pending_tiles.clear()
        pending_owner.clear()

    for index, image in enumerate(images):
        tiles = tiles_of(image.to(device), setup)
        if pending_tiles and sum(t.shape[0] for t in pending_tiles) + len(tiles) > batch_tiles:
            flush()
        pending_tiles.append(tiles)
        pending_owner.extend([index] * tiles.shape[0])
    if pending_tiles:
        flush()
    backbone.train(was_training)
    if not pooled:
        return torch.empty(0, device=device)
    return F.normalize(torch.cat(pooled), dim=1)
