"""Synthetic defects: a self-supervised subtask for finding anomalies on good parts only.

Neither instance discrimination nor the local consistency term asks a feature to notice a
small irregularity: both ask for invariance. On good-only data a random network's filters
then separate defects better than the pretrained ones (docs/benchmarks.md section 8). This
subtask asks for the opposite, in the spirit of CutPaste (Li et al. 2021) and DRAEM
(Zavrtanik et al. 2021): paint a small irregular blemish into a view of a good part and
train the middle stages (the ones PatchCore reads) to say where it is.

    painted, masks = paint_defects(views, sizes=(lo, hi), generator)     [N, C, H, W], [N, 1, H, W]
    maps = backbone.feature_maps(painted)[: deepest stage]               stages s .. s+1
    logits = head(cat(maps[s], upsample(maps[s+1])))                     [N, 1, h, w]
    cell target: 1 where the blemish covers >= ``POSITIVE_COVER`` of the cell, 0 where it
                 covers nothing, ignored between
    loss = (BCE over defect cells + BCE over clean cells) / 2             (balanced)

A blemish is a rotated ellipse (sometimes long and thin, a scratch) with a ragged edge, and
its content is one of: the same surface brighter or darker, another image's surface (a
foreign patch), or grain (noise). Only what a defect looks like locally is synthesized, never
a class of defect: the head is thrown away after pretraining.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.backbones.base import Backbone

# A cell counts as defective when the blemish covers at least this share of it; cells it
# touches less are ignored (neither clean nor defective).
POSITIVE_COVER = 0.05
# Low-resolution noise that makes the ellipse's edge ragged: its grid and amplitude (in units
# of the ellipse's radius).
EDGE_NOISE_GRID = 4
EDGE_NOISE = 0.35
# What a blemish can show: the surface brighter or darker, another image's surface, grain.
CONTENTS = ("shift", "foreign", "grain")


@torch.no_grad()
def paint_defects(views: torch.Tensor, sizes: tuple[float, float],
                  generator: torch.Generator | None = None,
                  contents: tuple[str, ...] = CONTENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """One blemish per view. views: [N, C, H, W] normalized (about zero mean, unit spread);
    sizes: (smallest, largest) length of a blemish in view pixels; contents: what blemishes
    may show (of ``CONTENTS``, one drawn per view) -> (painted views [N, C, H, W], masks
    [N, 1, H, W] in {0, 1}). ``generator`` on the views' device."""
    count, _, height, width = views.shape
    device, dtype = views.device, views.dtype

    def uniform(low: float, high: float) -> torch.Tensor:
        return _uniform(count, low, high, device, generator)

    center_x, center_y = uniform(0, width), uniform(0, height)
    length = uniform(*sizes)
    aspect = 1 + 5 * uniform(0, 1) ** 2  # mostly round, sometimes a scratch
    thickness = (length / aspect).clamp(min=1.5)
    angle = uniform(0, math.pi)
    ys = torch.arange(height, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=device, dtype=torch.float32) + 0.5
    dx = xs[None, None, :] - center_x[:, None, None]  # [N, 1, W]
    dy = ys[None, :, None] - center_y[:, None, None]  # [N, H, 1]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    along = (dx * cos + dy * sin) / (length[:, None, None] / 2)
    across = (-dx * sin + dy * cos) / (thickness[:, None, None] / 2)
    radius = (along**2 + across**2).sqrt()  # [N, H, W], 1 on the ellipse
    ragged = torch.randn(count, 1, EDGE_NOISE_GRID, EDGE_NOISE_GRID, device=device,
                         generator=generator)
    ragged = F.interpolate(ragged, size=(height, width), mode="bilinear", align_corners=False)
    inside = radius + EDGE_NOISE * ragged[:, 0] < 1
    # the centre pixel always belongs to it, so no blemish is empty
    inside |= radius <= radius.flatten(1).min(dim=1).values[:, None, None]
    masks = inside[:, None].to(dtype)  # [N, 1, H, W]

    content = _blemish_content(views, generator, contents)
    strength = uniform(0.5, 1.0)[:, None, None, None].to(dtype)
    alpha = masks * strength
    return views * (1 - alpha) + content * alpha, masks


def _blemish_content(views: torch.Tensor, generator: torch.Generator | None,
                     contents: tuple[str, ...]) -> torch.Tensor:
    """[N, C, H, W] -> what each blemish shows, [N, C, H, W]: per image one of ``contents``:
    ``shift``, the surface 0.8-2.5 spreads brighter or darker; ``foreign``, another image's
    surface; ``grain``, the surface with noise of 0.5-1.5 spreads."""
    count = views.shape[0]
    device = views.device

    def uniform(low: float, high: float) -> torch.Tensor:  # one value per image, [N, 1, 1, 1]
        return _uniform(count, low, high, device, generator)[:, None, None, None].to(views.dtype)

    def shift() -> torch.Tensor:
        sign = torch.randint(0, 2, (count,), device=device, generator=generator) * 2 - 1
        return views + sign[:, None, None, None].to(views.dtype) * uniform(0.8, 2.5)

    def foreign() -> torch.Tensor:
        # mirrored: the blemish's random place picks a random part of the other image
        return views.roll(1, dims=0).flip(-2, -1)

    def grain() -> torch.Tensor:
        noise = torch.randn(views.shape, device=device, generator=generator, dtype=views.dtype)
        return views + noise * uniform(0.5, 1.5)

    makers = {"shift": shift, "foreign": foreign, "grain": grain}
    candidates = torch.stack([makers[name]() for name in contents])  # [K, N, C, H, W]
    kind = torch.randint(0, len(contents), (count,), device=device, generator=generator)
    return candidates[kind, torch.arange(count, device=device)]


def _uniform(count: int, low: float, high: float, device: torch.device,
             generator: torch.Generator | None) -> torch.Tensor:
    """[count] values uniform in [low, high)."""
    return low + (high - low) * torch.rand(count, device=device, generator=generator)


def cell_targets(masks: torch.Tensor, cells: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """masks [N, 1, H, W] in {0, 1}; cells (h, w) of the map -> (targets [N, 1, h, w] in
    {0, 1}, weights [N, 1, h, w]: 0 where the blemish covers a cell only partly)."""
    cover = F.adaptive_avg_pool2d(masks.float(), cells)
    targets = (cover >= POSITIVE_COVER).float()
    weights = ((cover >= POSITIVE_COVER) | (cover == 0)).float()
    return targets, weights


def balanced_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
                 ) -> torch.Tensor:
    """Mean BCE over defective cells and over clean cells, averaged (both count alike
    however rare the defective ones are). All [N, 1, h, w] -> scalar."""
    per_cell = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    positive = targets * weights
    negative = (1 - targets) * weights
    loss_positive = (per_cell * positive).sum() / positive.sum().clamp(min=1.0)
    loss_negative = (per_cell * negative).sum() / negative.sum().clamp(min=1.0)
    return (loss_positive + loss_negative) / 2


@dataclass(frozen=True)
class DefectSettings:
    """weight: the subtask's factor in the total loss; sizes: (smallest, largest) blemish
    length in view pixels; stages: the backbone stages (1-based) whose maps the head reads,
    shallow first; contents: what blemishes may show (``CONTENTS``); share: the fraction of
    the batch painted (a separate, shallower pass)."""

    weight: float
    sizes: tuple[float, float]
    stages: tuple[int, ...]
    contents: tuple[str, ...] = CONTENTS
    share: float = 0.5


class DefectSegmentation(nn.Module):
    """The subtask: paint blemishes into views, segment them from the stages' maps.

    ``forward(backbone, views, generator) -> (loss, metrics)``; the head is the only module
    it owns (a 1x1 convolution MLP over the concatenated stage maps)."""

    def __init__(self, settings: DefectSettings, stage_widths: list[int],
                 hidden_dim: int = 128) -> None:
        super().__init__()
        self.settings = settings
        self.head = nn.Sequential(
            nn.Conv2d(sum(stage_widths), hidden_dim, 1, bias=False),
            nn.BatchNorm2d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, 1, 1),
        )

    def forward(self, backbone: Backbone, views: torch.Tensor,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """backbone: the online one (trained through this loss); views [N, C, H, W] ->
        (scalar loss, {"defect_recall": share of defective cells found at logit > 0})."""
        painted_count = max(2, round(views.shape[0] * self.settings.share))
        painted, masks = paint_defects(views[:painted_count].detach(), self.settings.sizes,
                                       generator, self.settings.contents)
        maps = backbone.shallow_maps(painted, max(self.settings.stages))
        chosen = [maps[stage - 1].values for stage in self.settings.stages]
        cells = chosen[0].shape[-2:]
        features = torch.cat([chosen[0]] + [
            F.interpolate(deeper, size=cells, mode="bilinear", align_corners=False)
            for deeper in chosen[1:]], dim=1)
        logits = self.head(features)
        targets, weights = cell_targets(masks, tuple(cells))
        loss = balanced_bce(logits, targets, weights)
        with torch.no_grad():
            positive = targets * weights
            found = ((logits > 0).float() * positive).sum() / positive.sum().clamp(min=1.0)
        return loss, {"defect_recall": found}
