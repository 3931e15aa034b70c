"""Decoded images for training: a Dataset of uint8 [C, H, W] tensors and a padding collate.

Decoding is the only per-image CPU work of a training step; cropping, resizing and the
photometric augmentations run batched on the device (``engine.data.augment``). When the
decoded data set fits in RAM it is decoded once into one flat buffer (cheap to share with
DataLoader workers, nothing per image for the garbage collector) and later epochs decode
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from engine.data.decode import UnreadableImageError, decode_image

log = logging.getLogger(__name__)


@dataclass
class PaddedBatch:
    """images: uint8 [B, C, Hmax, Wmax], zero-padded bottom/right; sizes: int64 [B, 2] (h, w);
    indices: int64 [B], positions in the dataset."""

    images: torch.Tensor
    sizes: torch.Tensor
    indices: torch.Tensor

    def pin_memory(self) -> PaddedBatch:
        return PaddedBatch(self.images.pin_memory(), self.sizes.pin_memory(), self.indices)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PaddedBatch:
        return PaddedBatch(
            self.images.to(device, non_blocking=non_blocking),
            self.sizes.to(device, non_blocking=non_blocking),
            self.indices,
        )


def collate_padded(items: Sequence[tuple[int, torch.Tensor]]) -> PaddedBatch:
    """[(index, uint8 [C, Hi, Wi])] -> PaddedBatch with every image top-left aligned."""
    channels = items[0][1].shape[0]
    height = max(image.shape[1] for _, image in items)
    width = max(image.shape[2] for _, image in items)
    images = torch.zeros(len(items), channels, height, width, dtype=torch.uint8)
    sizes = torch.empty(len(items), 2, dtype=torch.long)
    for row, (_, image) in enumerate(items):
        images[row, :, : image.shape[1], : image.shape[2]] = image
        sizes[row, 0], sizes[row, 1] = image.shape[1], image.shape[2]
    indices = torch.tensor([index for index, _ in items], dtype=torch.long)
    return PaddedBatch(images, sizes, indices)


class DecodedImageDataset(Dataset):
    """Images under a list of paths, decoded to uint8 [C, H, W].

    ``cache=True`` decodes everything at construction (with ``threads`` threads) into one
    flat uint8 buffer; files that fail to decode are dropped then and listed in ``skipped``.
    Without the cache, a file that fails later is replaced by the next readable one and
    recorded, so training never stops for one bad file.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        channels: int,
        bit_depth: int = 8,
        cache: bool = False,
        threads: int = 2,
    ) -> None:
        self.channels = channels
        self.bit_depth = bit_depth
        self.skipped: list[tuple[str, str]] = []
        self.paths = list(paths)
        self._buffer: torch.Tensor | None = None
        self._offsets: torch.Tensor | None = None
        self._shapes: torch.Tensor | None = None
        if cache:
            self._fill_cache(threads)

    def _decode_or_none(self, path: Path) -> torch.Tensor | None:
        try:
            return decode_image(path, self.channels, self.bit_depth)
        except UnreadableImageError as error:
            self.skipped.append((str(path), str(error)))
            return None

    def _fill_cache(self, threads: int) -> None:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            decoded = list(pool.map(self._decode_or_none, self.paths))
        kept = [(path, image) for path, image in zip(self.paths, decoded, strict=True)
                if image is not None]
        self.paths = [path for path, _ in kept]
        images = [image for _, image in kept]
        self._shapes = torch.tensor([image.shape for image in images], dtype=torch.long)
        sizes = torch.tensor([image.numel() for image in images], dtype=torch.long)
        self._offsets = torch.cumsum(sizes, 0) - sizes
        self._buffer = torch.cat([image.reshape(-1) for image in images]) if images else (
            torch.empty(0, dtype=torch.uint8)
        )

    @property
    def cached(self) -> bool:
        return self._buffer is not None

    def shapes(self) -> list[tuple[int, int]]:
        """(height, width) of each image: from the cache, else from the files' headers
        (nothing decoded); an unreadable header counts as (0, 0)."""
        if self._shapes is not None:
            return [(int(h), int(w)) for h, w in self._shapes[:, 1:].tolist()]
        shapes = []
        for path in self.paths:
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except (OSError, ValueError):
                width = height = 0
            shapes.append((height, width))
        return shapes

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> torch.Tensor:
        """uint8 [C, H, W] of item ``index``."""
        if self._buffer is not None:
            start = int(self._offsets[index])
            shape = self._shapes[index].tolist()
            return self._buffer[start : start + shape[0] * shape[1] * shape[2]].view(shape)
        for offset in range(len(self.paths)):
            candidate = (index + offset) % len(self.paths)
            image = self._decode_or_none(self.paths[candidate])
            if image is not None:
                if offset:
                    log.warning("replaced unreadable %s by %s", self.paths[index],
                                self.paths[candidate])
                return image
        raise UnreadableImageError("no image of the data set can be decoded")

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        return index, self.image(index)


def estimate_decoded_bytes(paths: Sequence[Path], channels: int, sample: int = 32) -> int:
    """Decoded size of the whole list, extrapolated from the headers of a few files."""
    if not paths:
        return 0
    step = max(1, len(paths) // sample)
    probed = paths[::step][:sample]
    total = 0
    for path in probed:
        with Image.open(path) as image:
            width, height = image.size
        total += width * height * channels
    return total * len(paths) // len(probed)


def channel_statistics(dataset: DecodedImageDataset, sample: int = 256, seed: int = 0
                       ) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation in [0, 1] units over a random sample."""
    generator = torch.Generator().manual_seed(seed)
    count = min(sample, len(dataset))
    order = torch.randperm(len(dataset), generator=generator)[:count].tolist()
    sums = torch.zeros(dataset.channels, dtype=torch.float64)
    squares = torch.zeros(dataset.channels, dtype=torch.float64)
    pixels = 0
    for index in order:
        image = dataset.image(index).double() / 255.0
        sums += image.sum(dim=(1, 2))
        squares += (image**2).sum(dim=(1, 2))
        pixels += image.shape[1] * image.shape[2]
    mean = sums / pixels
    std = (squares / pixels - mean**2).clamp_min(1e-8).sqrt()
    return mean.tolist(), std.tolist()
