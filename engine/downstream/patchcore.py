"""PatchCore (Roth et al. 2022): anomaly scores from the distance of each image patch to the
nearest patch of the good parts.

A patch's feature is the backbone's two middle stages at that place, each averaged over its
``neighbourhood`` (locally aware: a little context, still local), the deeper one upsampled to
the shallower grid, concatenated. The good parts' patches form the memory bank, thinned by a
greedy coreset (k-center: every good patch stays close to a kept one). A test patch's score
is its distance to the nearest bank patch; the image's score is its highest patch score; the
anomaly map is the patch scores upsampled to the image and smoothed.

Images are scaled by the model's input scale and run whole, or in overlapping tiles when
larger than ``tile`` network pixels, so a defect a few pixels wide keeps its pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.backbones import Backbone
from engine.backbones.base import FeatureMap
from engine.data.augment import gaussian_blur, normalize

PROJECTION_DIM = 128  # Johnson-Lindenstrauss projection for the coreset's distances
MAP_SIGMA = 4.0  # native pixels: smoothing of the anomaly map


class PatchFeatures(nn.Module):
    """[N, C, H, W] normalized images -> [N, D, H/s, W/s] locally aware patch features of
    the backbone's two middle stages (``stride`` s = the shallower stage's)."""

    def __init__(self, backbone: Backbone, neighbourhood: int = 3) -> None:
        super().__init__()
        self.backbone = backbone
        self.neighbourhood = neighbourhood

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """-> (features [N, D, h, w], stride of the grid in input pixels). The stages
        deeper than the two middle ones are not computed (a ResNet's layer4: about a
        quarter of its work)."""
        first = max(0, self.backbone.stage_count // 2 - 1)
        return self.combine(self.backbone.shallow_maps(x, first + 2)[first:])

    def combine(self, chosen: list[FeatureMap]) -> tuple[torch.Tensor, int]:
        """Two stages' maps, shallow first -> (their neighbourhood averages on the shallower
        grid, concatenated [N, D, h, w], that grid's stride)."""
        size = chosen[0].values.shape[-2:]
        parts = []
        for feature_map in chosen:
            values = F.avg_pool2d(feature_map.values.float(), self.neighbourhood, stride=1,
                                  padding=self.neighbourhood // 2, count_include_pad=False)
            if values.shape[-2:] != size:
                values = F.interpolate(values, size=size, mode="bilinear", align_corners=False)
            parts.append(values)
        return torch.cat(parts, dim=1), chosen[0].stride


def scale_image(image: torch.Tensor, scale: float, mean: list[float], std: list[float],
                even_lighting: bool = False) -> torch.Tensor:
    """uint8 [C, H, W] -> normalized float [1, C, round(H·scale), round(W·scale)].

    ``even_lighting``: each image is standardized by its own mean and spread of gray levels
    instead of the data set's, so a part shot brighter, darker or flatter than the good
    parts is not an anomaly for that alone.
    """
    x = image.unsqueeze(0).float().div_(255.0)
    if scale != 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[2] * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=scale < 1,
                          align_corners=False)
    if even_lighting:
        own_mean = x.mean(dim=(2, 3), keepdim=True)
        own_std = x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        return (x - own_mean) / own_std
    return normalize(x, mean, std)


def _tile_starts(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(read start, read end, keep start, keep end) along one axis: tiles of at most
    ``tile`` pixels whose kept centers cover ``length`` once, each read with ``margin``
    pixels of context on the sides that have it."""
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * margin
    count = math.ceil((length - 2 * margin) / step)
    spans = []
    for index in range(count):
        start = min(index * step, length - tile)
        keep_start = 0 if index == 0 else start + margin
        keep_end = length if index == count - 1 else start + tile - margin
        spans.append((start, start + tile, keep_start, keep_end))
    return spans


ALIGN = 32  # image and tile sides are made multiples of this: every stage's grid then fits


@torch.no_grad()
def dense_features(extractor: PatchFeatures, x: torch.Tensor, tile: int,
                   margin: int = 64) -> tuple[torch.Tensor, int]:
    """Patch features of one scaled image x [1, C, H, W] -> ([D, ceil(H/s), ceil(W/s)],
    stride s), computed whole or in overlapping tiles of ``tile`` pixels whose borders are
    dropped. The image is first padded (edge pixels repeated) to a multiple of 32, so every
    backbone (a ViT's patches included) sees whole cells and the tiles' grids line up."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % ALIGN, 0, -height % ALIGN), mode="replicate")
    tile = max(2 * ALIGN, tile - tile % ALIGN)
    rows = _tile_starts(padded.shape[-2], tile, margin)
    columns = _tile_starts(padded.shape[-1], tile, margin)
    grid: torch.Tensor | None = None
    for top, bottom, keep_top, keep_bottom in rows:
        for left, right, keep_left, keep_right in columns:
            features, stride = extractor(padded[..., top:bottom, left:right])
            if grid is None:
                grid = features.new_zeros(features.shape[1], padded.shape[-2] // stride,
                                          padded.shape[-1] // stride)
            y0, y1, x0, x1 = (keep_top // stride, keep_bottom // stride,
                              keep_left // stride, keep_right // stride)
            oy, ox = top // stride, left // stride
            grid[:, y0:y1, x0:x1] = features[0, :, y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return grid[:, :math.ceil(height / stride), :math.ceil(width / stride)], stride


def greedy_coreset(features: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` rows of ``features`` [N, D] chosen by greedy k-center on a random
    projection to 128 dims: each next row is the one farthest from those kept so far.

    The projection is kept column-major ([128, N]): each step's distances are then one
    row vector times that matrix, which reads it in long contiguous runs; the row-major
    matrix-vector product was 2.6x slower on a CPU (bench/coreset.py)."""
    count = features.shape[0]
    if size >= count:
        return torch.arange(count)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    dims = features.shape[1]
    projection = torch.randn(dims, min(PROJECTION_DIM, dims), generator=generator)
    columns = (features @ projection.to(features.device, features.dtype)).T.contiguous()
    norms = columns.pow(2).sum(0)
    chosen = torch.empty(size, dtype=torch.long)
    current = int(torch.randint(count, (1,), generator=generator))
    nearest = torch.full((count,), float("inf"), device=features.device)
    for index in range(size):
        chosen[index] = current
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one vector-matrix product per kept row
        distances = (columns[:, current] @ columns).mul_(-2).add_(norms)
        torch.minimum(nearest, distances.add_(norms[current]), out=nearest)
        current = int(torch.argmax(nearest))
    return chosen


def nearest_distances(queries: torch.Tensor, bank: torch.Tensor, chunk: int = 4096
                      ) -> torch.Tensor:
    """Euclidean distance of each query [Q, D] to its nearest bank row [M, D] -> [Q]."""
    out = []
    bank_norms = bank.pow(2).sum(1)
    for start in range(0, queries.shape[0], chunk):
        block = queries[start:start + chunk]
        squared = block.pow(2).sum(1, keepdim=True) - 2 * block @ bank.T + bank_norms
        out.append(squared.min(dim=1).values.clamp_min_(0).sqrt_())
    return torch.cat(out)


class PatchCore:
    """An extractor, how images are prepared for it, and once fitted, the memory bank
    [M, D] of good patches it scores against."""

    def __init__(self, extractor: PatchFeatures, scale: float, mean: list[float],
                 std: list[float], tile: int, device: torch.device,
                 even_lighting: bool = False) -> None:
        self.extractor, self.device = extractor, device
        self.scale, self.mean, self.std, self.tile = scale, mean, std, tile
        self.even_lighting = even_lighting
        self.bank: torch.Tensor | None = None

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 [C, H, W] -> the network input [1, C, H·scale, W·scale] on the device."""
        return scale_image(image.to(self.device), self.scale, self.mean, self.std,
                           self.even_lighting)

    @torch.no_grad()
    def patches(self, image: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """uint8 [C, H, W] -> (patch features [h·w, D], grid (h, w))."""
        features, _ = dense_features(self.extractor, self.prepare(image), self.tile)
        dims, rows, columns = features.shape
        return features.reshape(dims, -1).T, (rows, columns)

    def fit(self, good_patches: torch.Tensor, size: int, seed: int = 0) -> None:
        """Keep a greedy coreset of ``size`` of the good parts' patches [N, D]."""
        self.bank = good_patches[greedy_coreset(good_patches, size, seed)].contiguous()

    @torch.no_grad()
    def score(self, image: torch.Tensor) -> tuple[float, torch.Tensor]:
        """uint8 [C, H, W] -> (image score, anomaly map float [H, W] at native size)."""
        if self.bank is None:
            raise RuntimeError("fit the memory bank before scoring")
        patches, (rows, columns) = self.patches(image)
        distances = nearest_distances(patches, self.bank)
        native = F.interpolate(distances.view(1, 1, rows, columns), size=image.shape[-2:],
                               mode="bilinear", align_corners=False)
        radius = max(0, min(math.ceil(3 * MAP_SIGMA), (min(native.shape[-2:]) - 1) // 2))
        smoothed = gaussian_blur(native, torch.tensor([MAP_SIGMA], device=native.device),
                                 radius)[0, 0]
        return float(distances.max()), smoothed.cpu()
