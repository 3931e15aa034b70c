"""Tiny helpers over torch.distributed that also work when it is not initialized."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def gather_from_all_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [N, ...] of every rank along dim 0 -> [world*N, ...]; no gradient.

    Every rank must pass the same N. Rank r's rows land at [r*N, (r+1)*N).
    """
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` across ranks in place and return it (identity on one process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= dist.get_world_size()
    return tensor


def broadcast_from_rank0(tensor: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.broadcast(tensor, src=0)
    return tensor


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one (a stop decision)."""
    if not is_distributed():
        return flag
    backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=backend_device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
