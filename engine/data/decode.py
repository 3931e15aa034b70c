"""Decode one image file into a uint8 tensor [C, H, W], whatever its mode and bit depth.

Industrial cameras write 8-bit and 16-bit (often 10/12/14 significant bits) grayscale, RGB,
palette and alpha images. Everything becomes uint8 with 1 or 3 channels here, so the rest of
the pipeline sees one format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
GRAY_MODES = frozenset({"1", "L", "LA", *HIGH_BIT_MODES})


class UnreadableImageError(ValueError):
    """The file is not an image we can decode (corrupt, truncated, unsupported)."""


def to_uint8(array: np.ndarray, bit_depth: int) -> np.ndarray:
    """Scale a high-bit-depth array whose values use ``bit_depth`` bits to 0..255 (or its
    own bits, when it uses more: it is scaled to fit, never clipped)."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = (array - low) / max(high - low, 1e-12) * 255.0
        return np.nan_to_num(scaled).clip(0, 255).astype(np.uint8)
    own_bits = int(array.max()).bit_length() if array.size else 0
    shift = max(bit_depth, own_bits) - 8
    return (array.astype(np.int64) >> max(shift, 0)).clip(0, 255).astype(np.uint8)


def significant_bits(path: str | Path) -> int:
    """How many bits the pixel values of a high-bit-depth image use (8 for 8-bit images)."""
    with Image.open(path) as image:
        if image.mode not in HIGH_BIT_MODES or image.mode == "F":
            return 8
        maximum = int(np.asarray(image).max())
    return max(8, maximum.bit_length())


def decode_image(path: str | Path, channels: int, bit_depth: int = 16) -> torch.Tensor:
    """Read ``path`` -> uint8 [channels, H, W].

    channels: 1 (color images are converted to luminance) or 3 (gray is repeated).
    bit_depth: significant bits of 16-bit images in this data set (``significant_bits``
    over a sample), so a 12-bit sensor's images are stretched alike, not one by one.
    Raises UnreadableImageError for anything PIL cannot decode.
    """
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in HIGH_BIT_MODES:
                gray = to_uint8(np.asarray(image), bit_depth)
                array = gray[None] if channels == 1 else np.repeat(gray[None], 3, axis=0)
            else:
                if mode not in ("L", "RGB"):
                    image = image.convert("L" if mode in GRAY_MODES else "RGB")
                image = image.convert("L" if channels == 1 else "RGB")
                array = np.asarray(image)
                array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"{path}: {error}") from error
    return torch.from_numpy(np.array(array, copy=True, order="C"))
