"""Where each pixel of an augmented view came from: the geometry a dense objective needs.

A view is cut from its image by a box, then flipped and turned (``engine.data.augment``). To
compare two views of one image location by location, a point in image pixels is mapped into
each view's own coordinates:

    geometry1, geometry2 = ...                       # from TwoViewAugment.with_geometry
    points, valid = shared_points(geometry1, geometry2, count=16, generator=g)  # [B, P, 2]
    in_view1 = image_to_view(points, geometry1)      # [B, P, 2], (x, y) in [0, 1]

View coordinates: (0, 0) is the view's top-left corner, (1, 1) its bottom-right corner, so
``2 * v - 1`` is the ``grid_sample`` grid (``align_corners=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ViewGeometry:
    """How B views were cut: boxes float32 [B, 4] (x1, y1, x2, y2) in image pixels; hflip,
    vflip bool [B]; turns int64 [B], counter-clockwise quarter turns applied after the flips."""

    boxes: torch.Tensor
    hflip: torch.Tensor
    vflip: torch.Tensor
    turns: torch.Tensor

    @staticmethod
    def unflipped(boxes: torch.Tensor) -> ViewGeometry:
        """Crops only: no flip, no turn."""
        count, device = boxes.shape[0], boxes.device
        no = torch.zeros(count, dtype=torch.bool, device=device)
        return ViewGeometry(boxes, no, no, torch.zeros(count, dtype=torch.long, device=device))

    def __getitem__(self, index: slice | torch.Tensor) -> ViewGeometry:
        return ViewGeometry(self.boxes[index], self.hflip[index], self.vflip[index],
                            self.turns[index])

    @staticmethod
    def cat(parts: list[ViewGeometry]) -> ViewGeometry:
        return ViewGeometry(torch.cat([p.boxes for p in parts]),
                            torch.cat([p.hflip for p in parts]),
                            torch.cat([p.vflip for p in parts]),
                            torch.cat([p.turns for p in parts]))


def image_to_view(points: torch.Tensor, geometry: ViewGeometry) -> torch.Tensor:
    """points [B, P, 2] (x, y) in image pixels -> [B, P, 2] (x, y) in the view, in [0, 1]
    for points inside its box.

    In the order the augmentation applies them: the crop box, a horizontal flip, a vertical
    flip, then ``turns`` quarter turns counter-clockwise (``torch.rot90`` over (H, W): the
    pixel at (x, y) moves to (y, 1 - x)).
    """
    boxes = geometry.boxes.to(points.dtype)
    origin, extent = boxes[:, None, :2], (boxes[:, None, 2:] - boxes[:, None, :2]).clamp(min=1e-6)
    x, y = ((points - origin) / extent).unbind(dim=-1)
    x = torch.where(geometry.hflip[:, None], 1 - x, x)
    y = torch.where(geometry.vflip[:, None], 1 - y, y)
    for quarter in range(1, 4):
        x, y = (torch.where((geometry.turns >= quarter)[:, None], y, x),
                torch.where((geometry.turns >= quarter)[:, None], 1 - x, y))
    return torch.stack([x, y], dim=-1)


def shared_points(first: ViewGeometry, second: ViewGeometry, count: int,
                  generator: torch.Generator | None = None,
                  min_side: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` points per image, uniform over the part of the image both views show.

    -> points float32 [B, count, 2] (x, y) in image pixels; valid bool [B]: the two boxes
    overlap by at least ``min_side`` pixels along each axis (an image whose views share
    nothing has no positive pairs; its points are meaningless and must be skipped).
    """
    low = torch.maximum(first.boxes[:, :2], second.boxes[:, :2])
    high = torch.minimum(first.boxes[:, 2:], second.boxes[:, 2:])
    valid = ((high - low) >= min_side).all(dim=1)
    uniform = torch.rand(first.boxes.shape[0], count, 2, generator=generator,
                         device=first.boxes.device)
    points = low[:, None] + uniform * (high - low).clamp(min=0)[:, None]
    return points, valid
