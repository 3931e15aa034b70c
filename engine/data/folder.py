"""Find the images under a folder and learn their common format.

``scan_image_folder`` walks a folder recursively and keeps files with an image suffix whose
header PIL can read; everything else it lists in ``skipped`` with the reason, never raising
for a bad file. ``probe_format`` looks at a sample to pick the channel count and bit depth.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from engine.data.decode import GRAY_MODES, HIGH_BIT_MODES, significant_bits
from engine.errors import HatcheryInputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


@dataclass
class FolderScan:
    """Readable image paths (sorted) and the files that were skipped, with why."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class ImageFormat:
    channels: int  # 1 when every sampled image is single-channel, else 3
    bit_depth: int  # significant bits of high-bit-depth images (8 for 8-bit data)


class DataFolderError(HatcheryInputError):
    """The folder itself is unusable: missing, not a directory, or without images."""


def scan_image_folder(root: str | Path) -> FolderScan:
    """All readable images under ``root``, recursively; unreadable ones go to ``skipped``."""
    root = Path(root)
    if not root.exists():
        raise DataFolderError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise DataFolderError(f"data folder {root} is not a directory")
    scan = FolderScan(root=root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(path) as image:
                width, height = image.size
            if width < 1 or height < 1:
                raise ValueError("empty image")
        except Exception as error:  # any header failure means: skip and report, never crash
            scan.skipped.append((scan.relative(path), f"{type(error).__name__}: {error}"))
            continue
        scan.paths.append(path)
    return scan


def probe_format(paths: list[Path], sample_size: int = 64, seed: int = 0) -> ImageFormat:
    """Channel count and bit depth from a random sample of ``paths``.

    The bit depth is the typical one of the sample's high-bit-depth images (the median, so
    one image from another camera does not darken all the others); an image that uses more
    bits is scaled by its own when decoded (``decode_image``)."""
    sample = random.Random(seed).sample(paths, min(sample_size, len(paths)))
    all_gray = True
    high_bits: list[int] = []
    for path in sample:
        try:
            with Image.open(path) as image:
                all_gray &= image.mode in GRAY_MODES
                high = image.mode in HIGH_BIT_MODES
            if high:
                high_bits.append(significant_bits(path))
        except Exception:  # unreadable samples say nothing about the format
            continue
    bits = statistics.median_low(high_bits) if high_bits else 8
    return ImageFormat(channels=1 if all_gray else 3, bit_depth=bits)
