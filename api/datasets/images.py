"""Checking an uploaded image and making its thumbnail (PIL), before anything is stored."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

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


@dataclass(frozen=True)
class CheckedImage:
    """A decoded upload: what it is, and its thumbnail (``None``: the image is its own)."""

    info: ImageInfo
    thumbnail: bytes | None


def check_image(source: BinaryIO, max_pixels: int, thumbnail_size: int) -> CheckedImage:
    """Decode the whole file once (a truncated JPEG fails here, not in training), then make
    its thumbnail from the decoded pixels.

    An 8-bit gray or RGB JPEG no larger than the thumbnail already is one: it is served as
    its own thumbnail and nothing more is stored for it.
    """
    # PIL's own guard (89 MP by default) would refuse images the settings allow: it follows
    # the setting (the size is also checked below, from the header, before decoding).
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(source) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise RejectedImage(f"format {image.format} is not accepted "
                                    f"(use {', '.join(sorted(ACCEPTED_FORMATS))})")
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedImage(f"{width}x{height} is more than {max_pixels} pixels")
            image.load()
            info = ImageInfo(image.format, width, height, image.mode)
            if (image.format == "JPEG" and image.mode in ("L", "RGB")
                    and max(width, height) <= thumbnail_size):
                return CheckedImage(info, None)
            return CheckedImage(info, _thumbnail(image, thumbnail_size))
    except RejectedImage:
        raise
    except Exception as error:  # PIL raises many types for bad files
        raise RejectedImage(f"not a readable image: {_plain_reason(error)}") from error


def _plain_reason(error: Exception) -> str:
    """What went wrong, in words: no Python object reprs (``<... at 0x7f...>``)."""
    if isinstance(error, UnidentifiedImageError):
        return f"the content is none of {', '.join(sorted(ACCEPTED_FORMATS))}"
    reason = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(error)).strip(" :")
    return reason or type(error).__name__


def _thumbnail(image: Image.Image, size: int) -> bytes:
    """A JPEG no larger than size x size; 16-bit and palette images are converted."""
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
