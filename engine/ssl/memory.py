"""Memories of negative keys: MoCo's FIFO queue and a prioritized sum-tree memory.

Both answer the same two calls each step::

    draw = memory.draw()                        # negatives for this step's queries
    ...loss over [q·k+ | q·draw.keys] + draw.log_weights_for(owners), backward...
    memory.update(new_keys, draw, probabilities, step, owners)   # after backward

Each key remembers its owner: the image it was computed from, or that image's physical part
(its shots under other lightings are the same part). On a small data set the memory holds
keys of nearly every image, so a query meets stale keys of its own image as negatives;
``log_weights_for`` can leave them out of that query's loss (``memory.exclude_own_keys``,
off by default: it showed no consistent effect on anomaly AUROC, docs/benchmarks.md §8).

``probabilities`` [N, M] is the softmax mass the N queries put on the M drawn negatives
(ContrastiveLogits.negative_probabilities): the FIFO queue ignores it, the priority memory
turns it into each key's priority.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.ssl.sumtree import SumTree

# Log-weight of an empty memory slot: exp(-1e4) is exactly 0 in float32, yet unlike -inf it
# keeps softmax and KL terms free of NaN.
EMPTY_SLOT_LOG_WEIGHT = -1.0e4


@dataclass
class NegativeDraw:
    """Negatives for one step. keys: [M, D]; log_weights: [M] or None; slots: [M] or None;
    owners: [M] int64, whose image (or part) each key is (-1: unknown), or None."""

    keys: torch.Tensor
    log_weights: torch.Tensor | None = None
    slots: torch.Tensor | None = None
    owners: torch.Tensor | None = None

    def log_weights_for(self, query_owners: torch.Tensor | None) -> torch.Tensor | None:
        """The log-weights for queries of ``query_owners`` [N]: [N, M], a key of the
        query's own owner masked out; without owners the draw's own [M] (or None)."""
        if query_owners is None or self.owners is None:
            return self.log_weights
        weights = (self.log_weights if self.log_weights is not None
                   else self.keys.new_zeros(self.keys.shape[0]))
        own = query_owners.to(self.owners.device)[:, None] == self.owners[None, :]
        return torch.where(own, EMPTY_SLOT_LOG_WEIGHT, weights[None, :].float())


class NegativeMemory(nn.Module):
    """Interface of a memory of L2-normalized keys; ``owners`` [K]: whose each key is."""

    owners: torch.Tensor

    def draw(self) -> NegativeDraw:
        raise NotImplementedError

    def update(
        self,
        new_keys: torch.Tensor,
        draw: NegativeDraw,
        probabilities: torch.Tensor | None,
        step: int,
        owners: torch.Tensor | None = None,
    ) -> None:
        """``owners`` [B]: whose each new key is (None: unknown)."""
        raise NotImplementedError

    def _owners_of(self, new_keys: torch.Tensor, owners: torch.Tensor | None) -> torch.Tensor:
        if owners is None:
            return torch.full((new_keys.shape[0],), -1, dtype=torch.long,
                              device=self.owners.device)
        return owners.to(self.owners.device, torch.long)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # a checkpoint from before keys had owners: every key's owner is unknown
        state_dict.setdefault(prefix + "owners", torch.full_like(self.owners, -1))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class FifoQueue(NegativeMemory):
    """MoCo's queue: the newest ``size`` keys; the oldest leave first.

    Starts from random unit vectors, as in MoCo. keys: [K, D].
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("owners", torch.full((size,), -1, dtype=torch.long))

    def draw(self) -> NegativeDraw:
        return NegativeDraw(keys=self.keys, owners=self.owners)

    @torch.no_grad()
    def update(self, new_keys, draw, probabilities, step, owners=None) -> None:
        size = self.keys.shape[0]
        owners = self._owners_of(new_keys, owners)[-size:]
        new_keys = new_keys[-size:]
        slots = (self.pointer + torch.arange(new_keys.shape[0], device=self.keys.device)) % size
        self.keys[slots] = new_keys.to(self.keys.dtype)
        self.owners[slots] = owners
        self.pointer.copy_((self.pointer + new_keys.shape[0]) % size)


class PriorityMemory(NegativeMemory):
    """K keys ranked by how hard a negative each one is, held in a sum-tree on the device.

    - priority of a key = its contrastive-loss contribution: the mean over queries of the
      softmax mass on it, with the draw's weight divided out, times the number of valid keys
      (so a memory of equally hard keys has priorities near 1). Refreshed for every key used.
    - new keys enter with the current maximum priority, so each is used soon after it arrives;
    - when full, the lowest-priority keys make room; no key outlives ``max_age`` steps;
    - ``sampling="all"`` uses every key with weight (K·P(j))^(1-beta), the expectation of
      ``"proportional"``, which draws ``num_samples`` keys with P(j) ~ priority^a and corrects
      with importance weights (K·P(j))^-beta · K/S. beta = 1 gives plain InfoNCE.

    Updating B leaves and drawing S samples are O(B log K) and O(S log K) tensor ops.
    keys: [K, D]; priorities, birth_step, valid: [K].
    """

    def __init__(
        self,
        size: int,
        dim: int,
        sampling: Literal["all", "proportional"] = "all",
        num_samples: int = 1024,
        priority_exponent: float = 0.5,
        importance_beta: float = 0.5,
        max_age: int = 1000,
    ) -> None:
        super().__init__()
        self.sampling = sampling
        self.num_samples = num_samples
        self.priority_exponent = priority_exponent
        self.importance_beta = importance_beta
        self.max_age = max_age
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("priorities", torch.zeros(size))
        self.register_buffer("birth_step", torch.zeros(size, dtype=torch.long))
        self.register_buffer("valid", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("owners", torch.full((size,), -1, dtype=torch.long))
        self.tree = SumTree(size)

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    def draw(self) -> NegativeDraw:
        num_valid = int(self.valid.sum())
        if num_valid == 0:
            masked = torch.full((self.size,), EMPTY_SLOT_LOG_WEIGHT, device=self.keys.device)
            slots = torch.arange(self.size, device=self.keys.device)
            return NegativeDraw(self.keys, masked, slots, self.owners)
        if self.sampling == "all":
            slots = torch.arange(self.size, device=self.keys.device)
            scaled = self._scaled_probabilities(slots, num_valid)
            log_weights = (1.0 - self.importance_beta) * scaled.clamp_min(1e-30).log()
            log_weights = torch.where(self.valid, log_weights, EMPTY_SLOT_LOG_WEIGHT)
        else:
            slots = self.tree.sample(self.num_samples)
            scaled = self._scaled_probabilities(slots, num_valid)
            log_weights = -self.importance_beta * scaled.log() + math.log(num_valid / slots.numel())
        if self.sampling == "all":
            return NegativeDraw(self.keys, log_weights.float(), slots, self.owners)
        return NegativeDraw(self.keys[slots], log_weights.float(), slots, self.owners[slots])

    def _scaled_probabilities(self, slots: torch.Tensor, num_valid: int) -> torch.Tensor:
        """K_valid · P(slot) for the given slots: 1 where sampling would be uniform. -> [M]"""
        return (self.tree.probabilities(slots) * num_valid).to(self.keys.dtype)

    @torch.no_grad()
    def update(self, new_keys, draw, probabilities, step, owners=None) -> None:
        if probabilities is not None and draw.slots is not None:
            self._refresh_priorities(draw, probabilities)
        self._expire_old_keys(step)
        self._insert(new_keys, step, self._owners_of(new_keys, owners))

    def _refresh_priorities(self, draw: NegativeDraw, probabilities: torch.Tensor) -> None:
        """probabilities: [N, M] softmax mass on the drawn keys -> new priorities of those slots."""
        used = self.valid[draw.slots]
        weight_removed = torch.exp(-torch.where(used, draw.log_weights, 0.0))
        unweighted = probabilities.float().mean(dim=0) * weight_removed
        distributed.all_reduce_mean(unweighted)
        num_valid = int(self.valid.sum())
        new_priorities = (unweighted * num_valid).clamp_min(1e-6)
        slots = draw.slots[used]
        self.priorities[slots] = new_priorities[used].to(self.priorities.dtype)
        self.tree.update(
            slots, self.priorities[slots] ** self.priority_exponent, validate=False
        )

    def _expire_old_keys(self, step: int) -> None:
        expired = self.valid & (step - self.birth_step > self.max_age)
        if expired.any():
            slots = expired.nonzero().squeeze(1)
            self.valid[slots] = False
            self.priorities[slots] = 0.0
            zeros = torch.zeros(slots.numel(), device=self.keys.device)
            self.tree.update(slots, zeros, validate=False)

    def _insert(self, new_keys: torch.Tensor, step: int, owners: torch.Tensor) -> None:
        """Put [B, D] keys (of ``owners`` [B]) into the empty slots first, then over the
        lowest priorities."""
        new_keys, owners = new_keys[-self.size:], owners[-self.size:]
        count = new_keys.shape[0]
        any_valid = bool(self.valid.any())
        entry_priority = self.priorities.max() if any_valid else self.priorities.new_tensor(1.0)
        eviction_score = torch.where(self.valid, self.priorities, -torch.inf)
        slots = torch.topk(eviction_score, count, largest=False).indices
        self.keys[slots] = new_keys.to(self.keys.dtype)
        self.owners[slots] = owners
        self.birth_step[slots] = step
        self.valid[slots] = True
        self.priorities[slots] = entry_priority
        entry = entry_priority.expand(count) ** self.priority_exponent
        self.tree.update(slots, entry, validate=False)
