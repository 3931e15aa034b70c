"""Checking an uploaded image and making its thumbnail (PIL), before anything is stored."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp",
                    "TIFF": "image/tiff"}


class RejectedImage(ValueError):
    """The file is not an image we accept; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str

    @property
    def content_type(self) -> str:
        return ACCEPTED_FORMATS[self.format]


def inspect_image(path: Path, max_pixels: int) -> ImageInfo:
    """Decode the whole file (a truncated JPEG fails here, not in training)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise RejectedImage(f"format {image.format} is not accepted "
                                        f"(use {', '.join(sorted(ACCEPTED_FORMATS))})")
                width, height = image.size
                if width * height > max_pixels:
                    raise RejectedImage(f"{width}x{height} is more than {max_pixels} pixels")
                image.load()
                return ImageInfo(image.format, width, height, image.mode)
    except RejectedImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RejectedImage(f"image too large: {error}") from error
    except Exception as error:  # PIL raises many types for bad files
        reason = str(error).replace(str(path), "the file")
        raise RejectedImage(f"not a readable image ({type(error).__name__}: {reason})") from error


def make_thumbnail(path: Path, size: int) -> bytes:
    """A JPEG no larger than size x size; 16-bit and palette images are converted."""
    with Image.open(path) as image:
        image.thumbnail((size, size))
        if image.mode.startswith("I") or image.mode == "F":  # 16-bit / float: stretch to 8 bits
            values = np.asarray(image, dtype=np.float32)
            values = values / max(float(values.max()), 1e-6) * 255.0
            image = Image.fromarray(values.clip(0, 255).astype(np.uint8))
        elif image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA") else "RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        return out.getvalue()
