"""A batch sampler that can resume in the middle of an epoch and shards across ranks.

Epoch e visits a permutation drawn from ``seed + e``; rank r takes every world-th index of
it; a resumed run skips the first ``start_batch`` batches without loading them. Incomplete
batches are dropped, so every step has the same batch size (split BN and DDP need it).

With the images' ``shapes`` ((height, width) each), batches are cut from images of similar
size: the permutation is taken in pools of ``POOL_BATCHES`` batches, each pool sorted by the
longer side (then the height, so portrait and landscape images of one camera part), cut into
batches, and the batches' order shuffled again (the same generator, so a resumed run sees
the same batches). A padded batch is as tall as its tallest image and as wide as its widest,
so mixing a 200 px and a 600 px image pays for nine 200 px images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

POOL_BATCHES = 16


def batches_per_epoch(num_items: int, batch_size: int, world_size: int = 1) -> int:
    return (num_items // world_size) // batch_size


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields lists of ``batch_size`` dataset indices for one epoch of one rank."""

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int,
        epoch: int,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shapes: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.start_batch = start_batch
        self.rank = rank
        self.world_size = world_size
        self.size_keys = None if shapes is None else _size_keys(shapes)

    def __len__(self) -> int:
        total = batches_per_epoch(self.num_items, self.batch_size, self.world_size)
        return total - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        per_rank = self.num_items // self.world_size
        mine = order[self.rank :: self.world_size][:per_rank]
        total = batches_per_epoch(self.num_items, self.batch_size, self.world_size)
        batches = mine[: total * self.batch_size].view(total, self.batch_size)
        if self.size_keys is not None:
            batches = self._by_size(batches, generator)
        for batch in range(self.start_batch, total):
            yield batches[batch].tolist()

    def _by_size(self, batches: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """[total, batch_size] indices -> the same indices regrouped: in each pool of
        ``POOL_BATCHES`` batches, images sorted by size, cut into batches, batch order
        shuffled."""
        assert self.size_keys is not None
        pools = []
        for start in range(0, batches.shape[0], POOL_BATCHES):
            pool = batches[start : start + POOL_BATCHES].reshape(-1)
            pool = pool[torch.argsort(self.size_keys[pool], stable=True)]
            regrouped = pool.view(-1, self.batch_size)
            pools.append(regrouped[torch.randperm(regrouped.shape[0], generator=generator)])
        return torch.cat(pools) if pools else batches


def _size_keys(shapes: Sequence[tuple[int, int]]) -> torch.Tensor:
    """(height, width) per image -> int64 [N] keys ordering by the longer side, then the
    height."""
    sides = torch.as_tensor(list(shapes), dtype=torch.long).reshape(-1, 2)
    return sides.max(dim=1).values * (1 << 20) + sides[:, 0]
