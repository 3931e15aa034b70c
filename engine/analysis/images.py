"""Read every image of a folder once and keep what the analysis needs of it.

For each readable image: its size, PIL mode, channels, significant bits, whether a color
file actually holds gray pixels, intensity statistics, a content hash (exact duplicates) and
a small gray thumbnail (near duplicates, shots of one part, texture orientation). Files that
cannot be decoded are listed with the reason, never raised.

    facts = read_images(scan_image_folder("parts/"))
    facts.images[0].width, facts.thumbnails.shape      # 640, [N, 64, 64]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.data.decode import GRAY_MODES, HIGH_BIT_MODES, UnreadableImageError, to_uint8
from engine.data.folder import FolderScan

THUMBNAIL_SIZE = 64
# A color file whose channels differ by less than this (mean absolute difference, 0-255
# levels) is a gray image saved as RGB: the camera was monochrome.
GRAY_CHANNEL_TOLERANCE = 2.0


@dataclass(frozen=True)
class ImageFacts:
    """One image as read: ``path`` relative to the scanned folder."""

    path: str
    width: int
    height: int
    mode: str
    channels: int  # as stored: 1 or 3
    bit_depth: int  # significant bits (8 for 8-bit files)
    gray_content: bool  # 1 channel, or 3 equal ones
    mean: float  # of the gray levels, in [0, 1]
    std: float
    sha1: str


@dataclass
class ReadImages:
    """Every readable image's facts and gray thumbnail [N, S, S] float32 in [0, 1] (the
    whole image area-resized to S x S), and the files that could not be read, with why."""

    root: Path
    images: list[ImageFacts] = field(default_factory=list)
    thumbnails: torch.Tensor = field(default_factory=lambda: torch.zeros(0, THUMBNAIL_SIZE,
                                                                         THUMBNAIL_SIZE))
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _gray_levels(image: Image.Image) -> tuple[np.ndarray, int, int, bool]:
    """-> (gray float32 [H, W] in [0, 1], channels stored, significant bits, gray content)."""
    mode = image.mode
    if mode in HIGH_BIT_MODES:
        array = np.asarray(image)
        bits = 8 if mode == "F" else max(8, int(array.max()).bit_length())
        return to_uint8(array, bits).astype(np.float32) / 255, 1, bits, True
    if mode in GRAY_MODES:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255, 1, 8, True
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    spread = np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean()
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
    return gray, 3, 8, bool(spread < GRAY_CHANNEL_TOLERANCE)


def read_image(path: Path, root: Path) -> tuple[ImageFacts, np.ndarray]:
    """One file -> its facts and its thumbnail [S, S]; raises UnreadableImageError."""
    try:
        content = path.read_bytes()
        with Image.open(path) as image:
            image.load()
            gray, channels, bits, gray_content = _gray_levels(image)
            mode, (width, height) = image.mode, image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"{type(error).__name__}: {error}") from error
    thumbnail = Image.fromarray(gray, mode="F").resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE),
                                                       Image.BOX)
    facts = ImageFacts(path=path.relative_to(root).as_posix(), width=width, height=height,
                       mode=mode, channels=channels, bit_depth=bits,
                       gray_content=gray_content, mean=float(gray.mean()),
                       std=float(gray.std()), sha1=hashlib.sha1(content).hexdigest())
    return facts, np.asarray(thumbnail, dtype=np.float32)


def read_images(scan: FolderScan) -> ReadImages:
    """Every image of ``scan`` read once (header failures already in ``scan.skipped``)."""
    result = ReadImages(root=scan.root, unreadable=list(scan.skipped))
    thumbnails = []
    for path in scan.paths:
        try:
            facts, thumbnail = read_image(path, scan.root)
        except UnreadableImageError as error:
            result.unreadable.append((scan.relative(path), str(error)))
            continue
        result.images.append(facts)
        thumbnails.append(thumbnail)
    if thumbnails:
        result.thumbnails = torch.from_numpy(np.stack(thumbnails))
    return result
