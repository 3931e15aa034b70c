"""A batched sum-tree held in tensors: O(B log K) updates and prefix-sum sampling.

Leaves hold non-negative priorities; every internal node holds the sum of its two children,
so the root is the total and a uniform point in [0, total) finds its leaf in log2(K) steps.
All B updates or draws of one call move down or up the tree together: one tensor operation
per level, never a Python loop over keys.

Layout: ``tree`` [2L] float64 with L = capacity rounded up to a power of two; node 1 is the
root, the children of n are 2n and 2n+1, leaf i is node L + i; padding leaves stay 0.

Example::

    tree = SumTree(capacity=65536, device="cuda")
    tree.update(torch.tensor([3, 7]), torch.tensor([0.5, 2.0]))
    slots = tree.sample(1024)              # P(slot) = priority / total
"""

from __future__ import annotations

import torch
from torch import nn


class SumTree(nn.Module):
    """Priorities of ``capacity`` slots (float64, on the module's device)."""

    def __init__(self, capacity: int, device: torch.device | str | None = None) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.num_leaves = 1 << max(0, (capacity - 1).bit_length())
        self.depth = self.num_leaves.bit_length() - 1  # levels below the root
        self.register_buffer("tree", torch.zeros(2 * self.num_leaves, dtype=torch.float64,
                                                 device=device))

    @property
    def total(self) -> torch.Tensor:
        """Sum of all priorities (a 0-d float64 tensor on the device)."""
        return self.tree[1]

    def priorities(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Leaf values: all ``capacity`` of them [K], or those of ``indices`` [B]."""
        leaves = self.tree[self.num_leaves : self.num_leaves + self.capacity]
        return leaves if indices is None else leaves[indices]

    def probabilities(self, indices: torch.Tensor) -> torch.Tensor:
        """priority / total for ``indices`` [B] -> [B] float64."""
        return self.priorities(indices) / self.total

    @torch.no_grad()
    def update(self, indices: torch.Tensor, priorities: torch.Tensor) -> None:
        """Set leaves ``indices`` [B] to ``priorities`` [B] and repair their ancestors.

        With repeated indices one of the written values is kept (which one is unspecified);
        the sums stay consistent with the leaves either way, since parents are recomputed
        from their children, never incremented.
        """
        if indices.numel() == 0:
            return
        if bool((priorities < 0).any()):
            raise ValueError("priorities must be non-negative")
        nodes = indices.to(self.tree.device, torch.long) + self.num_leaves
        self.tree[nodes] = priorities.to(self.tree)
        for _ in range(self.depth):
            nodes = torch.div(nodes, 2, rounding_mode="floor")
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    @torch.no_grad()
    def rebuild(self) -> None:
        """Recompute every internal node from the leaves (clears accumulated rounding)."""
        start = self.num_leaves
        while start > 1:
            parents = torch.arange(start // 2, start, device=self.tree.device)
            self.tree[parents] = self.tree[2 * parents] + self.tree[2 * parents + 1]
            start //= 2

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` leaf indices, P(i) = priority_i / total, stratified -> int64 [count].

        [0, total) is cut into ``count`` equal segments with one uniform point in each (lower
        variance than independent draws); each point descends the tree, going right when it
        exceeds the left child's sum.
        """
        total = float(self.total)
        if total <= 0:
            raise ValueError("cannot sample from a sum-tree whose priorities are all zero")
        device = self.tree.device
        offsets = torch.rand(count, generator=generator, device=device, dtype=torch.float64)
        points = (torch.arange(count, device=device, dtype=torch.float64) + offsets) * (
            total / count
        )
        nodes = torch.ones(count, dtype=torch.long, device=device)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.tree[left]
            # Right when past the left sum, or when the left subtree is empty (rounding guard).
            go_right = (points >= left_sum) & (self.tree[left + 1] > 0) | (left_sum <= 0)
            points = torch.where(go_right, points - left_sum, points)
            nodes = torch.where(go_right, left + 1, left)
        return nodes - self.num_leaves
