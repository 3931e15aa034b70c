"""Anomaly heat maps drawn over their images, as PNG files a person can look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

# (position, RGB): black-blue-red-yellow-white, a perceptually ordered ramp
RAMP = ((0.0, (0, 0, 0)), (0.25, (40, 30, 160)), (0.5, (200, 30, 40)),
        (0.75, (250, 190, 40)), (1.0, (255, 255, 230)))


def colorize(values: np.ndarray) -> np.ndarray:
    """[H, W] in [0, 1] -> uint8 [H, W, 3] along ``RAMP``."""
    positions = [position for position, _ in RAMP]
    channels = [np.interp(values, positions, [color[c] for _, color in RAMP])
                for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def save_overlay(image: torch.Tensor, anomaly_map: torch.Tensor, threshold: float,
                 path: str | Path) -> Path:
    """The image (uint8 [C, H, W]) with its anomaly map (float [H, W]) blended over it:
    the threshold sits at the middle of the ramp, so red and brighter is called defective;
    below a quarter of the threshold the image shows untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = image.cpu().numpy()
    picture = np.repeat(picture, 3, axis=0) if picture.shape[0] == 1 else picture
    picture = picture.transpose(1, 2, 0).astype(np.float32)
    values = (anomaly_map.cpu().numpy() / max(2 * threshold, 1e-12)).clip(0, 1)
    alpha = np.clip((values - 0.125) * 4, 0, 0.6)[..., None]
    blended = picture * (1 - alpha) + colorize(values).astype(np.float32) * alpha
    Image.fromarray(blended.round().clip(0, 255).astype(np.uint8)).save(path)
    return path
