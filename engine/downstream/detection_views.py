"""Training views of annotated images for the detectors: targets in torchvision's form, a
random horizontal flip (the weak view), and strong photometric changes with cut-out squares
(Unbiased Teacher's strong view; geometry untouched, so a weak view's boxes fit it).

    image, target = hflip(image, target)          # float [C, H, W], boxes and masks flipped
    student_input = strong_view(image, generator)  # same geometry, new colors and holes
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import functional as TF

from engine.data.annotations import AnnotatedImage

Target = dict[str, torch.Tensor]
# (probability, smallest and largest share of the image) of each erased rectangle, as in
# Unbiased Teacher's three RandomErasing steps
ERASURES = ((0.7, 0.05, 0.2), (0.5, 0.02, 0.2), (0.3, 0.02, 0.2))
ERASED_ASPECT = (0.3, 3.3)
JITTER_PROB, JITTER = 0.8, 0.4  # brightness and contrast factors in 1 ± 0.4
BLUR_PROB, BLUR_SIGMA = 0.5, (0.1, 2.0)


def target_of(annotated: AnnotatedImage, masks: bool) -> Target:
    """``{"boxes": float32 [K, 4], "labels": int64 [K] (class index + 1; 0 is background)}``
    and, with ``masks``, ``"masks": uint8 [K, H, W]``."""
    target = {"boxes": torch.from_numpy(annotated.boxes.copy()),
              "labels": torch.from_numpy(annotated.labels + 1)}
    if masks:
        target["masks"] = torch.from_numpy(annotated.masks()).to(torch.uint8)
    return target


def hflip(image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
    """The image [C, H, W] mirrored left to right, with its boxes and masks."""
    width = image.shape[-1]
    flipped = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    flipped["boxes"] = boxes
    if "masks" in target:
        flipped["masks"] = target["masks"].flip(-1)
    return image.flip(-1), flipped


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _chance(probability: float, generator: torch.Generator) -> bool:
    return float(torch.rand((), generator=generator)) < probability


def strong_view(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float [C, H, W] in [0, 1] -> the same shape: brightness and contrast jitter, a
    Gaussian blur and up to three rectangles of noise, each at random."""
    x = image
    if _chance(JITTER_PROB, generator):
        x = x * _uniform(1 - JITTER, 1 + JITTER, generator)
        mean = x.mean()
        x = (x - mean) * _uniform(1 - JITTER, 1 + JITTER, generator) + mean
    if _chance(BLUR_PROB, generator):
        sigma = _uniform(*BLUR_SIGMA, generator)
        side = 2 * math.ceil(3 * sigma) + 1
        x = TF.gaussian_blur(x, [side, side], [sigma, sigma])
    x = x.clamp(0, 1)
    height, width = x.shape[-2:]
    for probability, low, high in ERASURES:
        if not _chance(probability, generator):
            continue
        area = _uniform(low, high, generator) * height * width
        aspect = math.exp(_uniform(*(math.log(v) for v in ERASED_ASPECT), generator))
        h = min(height, max(1, round(math.sqrt(area * aspect))))
        w = min(width, max(1, round(math.sqrt(area / aspect))))
        top = int(torch.randint(height - h + 1, (), generator=generator))
        left = int(torch.randint(width - w + 1, (), generator=generator))
        x[:, top:top + h, left:left + w] = torch.rand((x.shape[0], h, w), generator=generator)
    return x
