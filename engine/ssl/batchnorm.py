"""Stopping the BatchNorm leak in contrastive methods with a memory of keys.

With BatchNorm, a query and its positive key normalized with the same batch statistics can
"cheat": the model learns to recognize the batch rather than the image (He et al. 2020, 3.3).
MoCo's fix, shuffle-BN, computes the keys of a batch permuted across the ranks, so a query and
its key are normalized over different subsets of images. On one device we do the same with
ghost batches: both encoders run the batch in ``splits`` chunks, each chunk normalized by its
own statistics, and the key encoder sees the batch in a random order, so a query and its key
land in chunks with different companions. (Running the chunks one after another costs nothing
measurable on CPU or GPU, and unlike a reshaped BatchNorm it needs no copy of channels-last
activations.)

Example::

    queries = ghost_batch_forward(query_encoder, view1, splits=4)   # [N, C, H, W] -> [N, D]
    keys = shuffled_forward(key_encoder, view2, splits=4)          # same order as view2
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine import distributed

Outputs = torch.Tensor | tuple[torch.Tensor, ...]


def _concatenated(chunks: list[Outputs]) -> Outputs:
    """Chunks' outputs -> one output: tensors concatenated, tuples element by element."""
    if isinstance(chunks[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*chunks, strict=True))
    return torch.cat(chunks)


def _each(outputs: Outputs, function: Callable[[torch.Tensor], torch.Tensor]) -> Outputs:
    """``function`` applied to a tensor, or to each tensor of a tuple."""
    if isinstance(outputs, tuple):
        return tuple(function(part) for part in outputs)
    return function(outputs)


def ghost_batch_forward(
    encoder: Callable[[torch.Tensor], Outputs], images: torch.Tensor, splits: int
) -> Outputs:
    """encoder over ``splits`` consecutive chunks of the batch: [N, ...] -> [N, D] (or a
    tuple of [N, ...] tensors when the encoder returns a tuple).

    Each chunk's BatchNorm layers see only that chunk. N must be a multiple of ``splits``.
    """
    if splits == 1:
        return encoder(images)
    if images.shape[0] % splits:
        raise ValueError(f"batch of {images.shape[0]} does not divide into {splits} ghost batches")
    return _concatenated([encoder(chunk) for chunk in images.chunk(splits)])


@torch.no_grad()
def shuffled_forward(encoder: Callable[[torch.Tensor], Outputs], images: torch.Tensor,
                     splits: int = 1) -> Outputs:
    """encoder(images) computed on a shuffled batch, returned in the original order.

    images: [N, C, H, W] of this rank -> [N, D] (or a tuple, as the encoder returns). Under
    DDP the batch is gathered from every rank, permuted with a permutation broadcast from
    rank 0, and each rank encodes one slice (MoCo's shuffle-BN); on one process the local
    batch is permuted and encoded in ``splits`` ghost batches.
    """
    if not distributed.is_distributed():
        order = torch.randperm(images.shape[0], device=images.device)
        keys = ghost_batch_forward(encoder, images[order], splits)
        restore = torch.argsort(order)
        return _each(keys, lambda part: part[restore])

    world, rank = distributed.world_size(), distributed.rank()
    all_images = distributed.gather_from_all_ranks(images)
    order = torch.randperm(all_images.shape[0], device=images.device)
    distributed.broadcast_from_rank0(order)
    local_slice = order.view(world, -1)[rank]
    keys = ghost_batch_forward(encoder, all_images[local_slice], splits)
    restore = torch.argsort(order).view(world, -1)[rank]
    return _each(keys, lambda part: distributed.gather_from_all_ranks(part)[restore])
