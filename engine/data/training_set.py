"""From a folder path to a decoded, normalized-statistics training set, or one clear error."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from engine.data.dataset import DecodedImageDataset, channel_statistics, estimate_decoded_bytes
from engine.data.folder import DataFolderError, ImageFormat, probe_format, scan_image_folder
from engine.schemas.pretrain import DataConfig

CACHE_LIMIT_BYTES = 2 * 1024**3


@dataclass
class TrainingImages:
    """The decoded images of a data folder and what training needs to know about them."""

    dataset: DecodedImageDataset
    image_format: ImageFormat
    mean: list[float]
    std: list[float]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return self.image_format.channels

    def describe(self) -> dict:
        return {
            "channels": self.image_format.channels,
            "bit_depth": self.image_format.bit_depth,
            "mean": self.mean,
            "std": self.std,
            "num_images": len(self.dataset),
            "num_skipped": len(self.skipped),
        }


def load_training_images(config: DataConfig, seed: int = 0) -> TrainingImages:
    """Scan ``config.path``, pick the format, decode (cached when it fits), measure mean/std.

    Raises DataFolderError when the folder is missing or holds no readable image.
    """
    scan = scan_image_folder(config.path)
    if not scan.paths:
        detail = f" ({len(scan.skipped)} unreadable files skipped)" if scan.skipped else ""
        raise DataFolderError(f"data folder {config.path} holds no readable image{detail}")
    image_format = probe_format(scan.paths, seed=seed)
    channels = image_format.channels if config.channels == "auto" else config.channels
    image_format = ImageFormat(channels=channels, bit_depth=image_format.bit_depth)
    cache = config.cache_decoded
    if cache == "auto":
        cache = estimate_decoded_bytes(scan.paths, channels) <= CACHE_LIMIT_BYTES
    dataset = DecodedImageDataset(
        scan.paths, channels, image_format.bit_depth, cache=cache, threads=os.cpu_count() or 1
    )
    skipped = scan.skipped + dataset.skipped
    if len(dataset) == 0:
        raise DataFolderError(
            f"data folder {config.path} holds no readable image ({len(skipped)} files skipped)"
        )
    mean, std = channel_statistics(dataset, seed=seed)
    return TrainingImages(dataset, image_format, mean, std, skipped)
