"""The local objective: the same image location, seen in two views, gets the same feature.

A global objective compares whole crops, so on inspection images it learns the lighting and
the part's outline, and a pit a few pixels wide changes almost nothing it sees. This term
works on a middle stage's feature map instead (the one PatchCore and the detectors read): at
points that both views show (the correspondence comes from the crop geometry, not from
matching), the online prediction in view 1 is trained toward the target feature at the same
image point in view 2.

    dense_q = dense_predictor(dense_projector(stage_map(view1)))     [B, D, h, w]
    dense_k = target_dense_projector(target_stage_map(view2))        [B, D, h, w]
    points shared by both views -> q [B, P, D], k [B, P, D]
    consistency (default, PixPro's pixel-to-pixel term without its propagation module):
        loss = mean 2 - 2 cos(q, k)
    contrast (PixContrast / DenseCL-style InfoNCE):
        loss = CE(q·kᵀ / T, diagonal) over every sampled point of the batch, negatives
               closer than ``exclusion`` to the positive in the same image masked

Measured on generated parts (docs/benchmarks.md section 8; PatchCore image AUROC, same crops
and minutes): global objective alone 0.532, with the contrast 0.534 (it pushes apart
neighbouring patches of one texture), with the consistency 0.610; hence consistency by
default. A random-init network scored 0.716 there: neither makes pretraining pay yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.geometry import ViewGeometry, image_to_view, shared_points


def dense_head(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """[N, in_dim, h, w] -> [N, out_dim, h, w]: 1x1 conv -> BatchNorm -> ReLU -> 1x1 conv,
    the global MLP head applied at every location."""
    return nn.Sequential(
        nn.Conv2d(in_dim, hidden_dim, 1, bias=False),
        nn.BatchNorm2d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden_dim, out_dim, 1),
    )


def sample_at(features: torch.Tensor, view_points: torch.Tensor) -> torch.Tensor:
    """features [B, D, h, w]; view_points [B, P, 2] (x, y) in [0, 1] view coordinates ->
    [B, P, D], bilinearly interpolated, L2-normalized."""
    grid = (2 * view_points - 1).unsqueeze(2).to(features.dtype)  # [B, P, 1, 2]
    sampled = F.grid_sample(features, grid, mode="bilinear", padding_mode="border",
                            align_corners=False)  # [B, D, P, 1]
    return F.normalize(sampled.squeeze(3).transpose(1, 2).float(), dim=-1)


def dense_contrastive_loss(queries: torch.Tensor, keys: torch.Tensor, points: torch.Tensor,
                           valid: torch.Tensor, temperature: float,
                           exclusion: float) -> torch.Tensor:
    """InfoNCE over sampled locations -> scalar.

    queries, keys: [B, P, D] normalized, query (b, p) and key (b, p) show the same image
    point; points [B, P, 2] those points (in pixels, or any unit ``exclusion`` is in);
    valid bool [B]: images whose two views share an area. Negatives of (b, p): every key of
    every valid image, except keys of image b closer than ``exclusion`` to point p. Rows of
    invalid images weigh nothing (masked, not gathered: no host sync).
    """
    images, count, dim = queries.shape
    logits = queries.reshape(images * count, dim) @ keys.reshape(images * count, dim).T
    logits = logits.float() / temperature
    owner = torch.arange(images, device=queries.device).repeat_interleave(count)
    flat_points = points.reshape(images * count, 2).float()
    excluded = (owner[:, None] == owner[None, :]) & (
        torch.cdist(flat_points, flat_points) < exclusion)
    excluded |= ~valid[owner][None, :]
    excluded.fill_diagonal_(False)
    logits = logits.masked_fill(excluded, float("-inf"))
    targets = torch.arange(images * count, device=queries.device)
    per_row = F.cross_entropy(logits, targets, reduction="none")
    weights = valid[owner].to(per_row.dtype)
    return (per_row * weights).sum() / weights.sum().clamp(min=1.0)


def dense_consistency_loss(queries: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor
                           ) -> torch.Tensor:
    """BYOL's loss at every sampled point (PixPro's consistency without its propagation):
    mean over valid images of 2 - 2 cos(query, key). queries, keys: [B, P, D] normalized;
    valid bool [B]. No negatives: neighbouring patches of one texture are not pushed apart,
    so the features learn what stays the same under another lighting, not the grain."""
    per_image = (2 - 2 * (queries * keys).sum(dim=-1)).mean(dim=1)  # [B]
    weights = valid.to(per_image.dtype)
    return (per_image * weights).sum() / weights.sum().clamp(min=1.0)


@dataclass(frozen=True)
class DenseObjective:
    """The local term's settings. weight: its factor in the total loss; kind:
    ``consistency`` (BYOL at each point, no negatives) or ``contrast`` (InfoNCE against
    every other sampled point); points: locations sampled per image; temperature: of the
    contrast's softmax; exclusion: radius, as a fraction of the shorter side of the two
    views' shared area, within which a same-image key is no negative."""

    weight: float
    kind: str = "consistency"
    points: int = 32
    temperature: float = 0.2
    exclusion: float = 0.1

    def loss(self, online: torch.Tensor, online_geometry: ViewGeometry, target: torch.Tensor,
             target_geometry: ViewGeometry, generator: torch.Generator | None = None
             ) -> torch.Tensor:
        """online: [B, D, h, w] predictions of the online views; target: [B, D, h', w'] keys
        of the other views of the same B images; the geometries that cut them -> scalar."""
        points, valid = shared_points(online_geometry, target_geometry, self.points, generator)
        queries = sample_at(online, image_to_view(points, online_geometry))
        keys = sample_at(target, image_to_view(points, target_geometry)).detach()
        if self.kind == "consistency":
            return dense_consistency_loss(queries, keys, valid)
        shared = (torch.minimum(online_geometry.boxes[:, 2:], target_geometry.boxes[:, 2:])
                  - torch.maximum(online_geometry.boxes[:, :2], target_geometry.boxes[:, :2]))
        # one radius per image, applied by scaling that image's points
        scale = shared.clamp(min=1e-6).min(dim=1).values * self.exclusion  # [B]
        return dense_contrastive_loss(queries, keys, points / scale[:, None, None], valid,
                                      self.temperature, exclusion=1.0)
