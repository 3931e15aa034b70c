"""Whether a data set's texture has a direction: what decides if rotations and flips are
label-safe augmentations.

Per image, the structure tensor of its gray thumbnail (mean of the gradient's outer product)
gives a dominant orientation and a *coherence* in [0, 1]: 0 for a texture with no preferred
direction (grain, pits), near 1 for parallel lines (tool marks, rolling direction). A data set
is orientation-invariant when its images are incoherent, or when their directions are spread
over all angles anyway (parts placed at random on a conveyor): rotating a view then shows
nothing the data does not already hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.analysis.shots import gaussian_blur

# Median coherence below which the texture has no preferred direction.
INCOHERENT = 0.25
# Length of the mean of the images' doubled-angle direction vectors below which their
# directions are spread over all angles (1: all alike, 0: uniformly spread).
SPREAD = 0.3
# Within this many degrees of the image axes, a direction is kept by vertical and
# horizontal flips.
AXIS_TOLERANCE_DEGREES = 10.0


@dataclass(frozen=True)
class Orientation:
    coherence: float  # median over the images, in [0, 1]
    direction_degrees: float  # the data set's mean dominant direction, 0 = horizontal
    direction_agreement: float  # 0: directions spread over all angles, 1: all alike
    rotation_invariant: bool
    axis_aligned: bool  # the dominant direction lies along an image axis

    def as_dict(self) -> dict:
        return {"coherence": round(self.coherence, 3),
                "direction_degrees": round(self.direction_degrees, 1),
                "direction_agreement": round(self.direction_agreement, 3),
                "rotation_invariant": self.rotation_invariant,
                "axis_aligned": self.axis_aligned}


def structure_tensors(thumbnails: torch.Tensor) -> torch.Tensor:
    """Gray [N, S, S] -> [N, 3]: mean gx², gy², gx·gy of the lightly smoothed images."""
    smooth = gaussian_blur(thumbnails, 1.0)
    gx = smooth[:, 1:-1, 2:] - smooth[:, 1:-1, :-2]
    gy = smooth[:, 2:, 1:-1] - smooth[:, :-2, 1:-1]
    return torch.stack([(gx * gx).mean((1, 2)), (gy * gy).mean((1, 2)),
                        (gx * gy).mean((1, 2))], dim=1)


def texture_orientation(thumbnails: torch.Tensor) -> Orientation:
    """[N, S, S] gray thumbnails (N >= 1) -> the data set's orientation facts."""
    jxx, jyy, jxy = structure_tensors(thumbnails.double()).unbind(dim=1)
    energy = (jxx + jyy).clamp(min=1e-12)
    coherence = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / energy
    # the gradient's doubled angle; the texture's lines run perpendicular to the gradient
    doubled = torch.atan2(2 * jxy, jxx - jyy)
    weights = coherence / coherence.sum().clamp(min=1e-12)
    mean_vector = torch.stack([(weights * doubled.cos()).sum(), (weights * doubled.sin()).sum()])
    agreement = float(mean_vector.norm())
    gradient_degrees = math.degrees(0.5 * math.atan2(float(mean_vector[1]),
                                                     float(mean_vector[0])))
    direction = (gradient_degrees + 90.0) % 180.0
    median_coherence = float(coherence.median())
    off_axis = min(direction % 90.0, 90.0 - direction % 90.0)
    return Orientation(
        coherence=median_coherence, direction_degrees=direction,
        direction_agreement=agreement,
        rotation_invariant=median_coherence < INCOHERENT or agreement < SPREAD,
        axis_aligned=off_axis <= AXIS_TOLERANCE_DEGREES)
