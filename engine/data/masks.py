"""Defect masks for images: a PNG per image (any nonzero pixel is defect) or YOLO segmentation
polygons (``class x1 y1 x2 y2 ...``, normalized to [0, 1]) in a .txt per image, both named
after the image's file stem. An image without a mask file, or with an empty .txt, is good.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.errors import HatcheryInputError


class MaskError(HatcheryInputError):
    """A mask file that cannot be read; the message names the file and line."""


def read_mask(masks: str | Path, image: Path, height: int, width: int) -> np.ndarray:
    """bool [height, width] of ``image``'s defects (all False when it has no mask file)."""
    folder = Path(masks)
    png = folder / f"{image.stem}.png"
    if png.is_file():
        with Image.open(png) as mask:
            array = np.asarray(mask.convert("L"))
        if array.shape != (height, width):
            raise MaskError(f"mask {png} is {array.shape[1]}x{array.shape[0]}, its image "
                            f"{image.name} {width}x{height}")
        return array > 0
    text = folder / f"{image.stem}.txt"
    if text.is_file():
        return _polygons(text, height, width)
    return np.zeros((height, width), bool)


def _polygons(path: Path, height: int, width: int) -> np.ndarray:
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(path.read_text().splitlines(), 1):
        values = line.split()
        if not values:
            continue
        try:
            coords = [float(value) for value in values[1:]]
        except ValueError:
            raise MaskError(f"{path} line {number}: not numbers") from None
        if len(coords) < 6 or len(coords) % 2:
            raise MaskError(f"{path} line {number}: a polygon needs an even number of "
                            f"coordinates, at least 6, after the class; got {len(coords)}")
        if any(not 0 <= value <= 1 for value in coords):
            raise MaskError(f"{path} line {number}: polygon coordinates are normalized to "
                            "[0, 1]; a value lies outside")
        points = [(coords[i] * width, coords[i + 1] * height) for i in range(0, len(coords), 2)]
        draw.polygon(points, fill=255, outline=255)
    return np.asarray(canvas) > 0
