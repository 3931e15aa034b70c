"""A batch sampler that can resume in the middle of an epoch and shards across ranks.

Epoch e visits a permutation drawn from ``seed + e``; rank r takes every world-th index of
it; a resumed run skips the first ``start_batch`` batches without loading them. Incomplete
batches are dropped, so every step has the same batch size (split BN and DDP need it).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


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
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.start_batch = start_batch
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        total = batches_per_epoch(self.num_items, self.batch_size, self.world_size)
        return total - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        per_rank = self.num_items // self.world_size
        mine = order[self.rank :: self.world_size][:per_rank]
        total = batches_per_epoch(self.num_items, self.batch_size, self.world_size)
        for batch in range(self.start_batch, total):
            yield mine[batch * self.batch_size : (batch + 1) * self.batch_size].tolist()
