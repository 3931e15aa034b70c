"""A batched sum-tree held in tensors: O(B log K) updates and prefix-sum sampling.

Leaves hold non-negative priorities; every internal node holds the sum of its two children,
so the root is the total and a uniform point in [0, total) finds its leaf in log2(L) steps.
All B updates or draws of one call move up or down the tree together: one tensor operation
per level, never a Python loop over keys or over the batch.

Layout: ``tree`` [2L] float64 with L = capacity rounded up to a power of two; node 1 is the
root, the children of node n are 2n and 2n+1, leaf i is node L + i, node 0 is unused and
the L - capacity padding leaves stay 0. Viewed as [L, 2], row n holds the two children of
node n, which is how every level is read in one gather.

Every internal node is always recomputed as ``left + right`` from its children (never
incremented), so a node is 0 exactly when both children are 0; this is what lets sampling
guarantee it never lands on a zero-priority or padding leaf.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch import nn


class SumTree(nn.Module):
    """Priorities of ``capacity`` slots in a float64 sum-tree on the module's device.

    ``tree`` is a registered buffer: ``state_dict()`` saves it, ``.to(device)`` moves it.
    Casting the module (``.half()``, ``.to(torch.float32)``) keeps it float64.

    Attributes:
        capacity: K, the number of slots.
        num_leaves: L, K rounded up to a power of two.
        depth: log2(L), the number of levels below the root.
        levels: Python-level loop iterations of the last ``update``/``sample``/``rebuild``
            (always ``depth``: one vectorized step per level, whatever the batch size).

    Example::

        tree = SumTree(capacity=1000, device="cuda")
        tree.update(torch.tensor([3, 7]), torch.tensor([0.5, 2.0]))   # leaves 3 and 7
        slots = tree.sample(1024)            # int64 [1024], P(slot) = priority / total
        weights = tree.probabilities(slots)  # float64 [1024]
        tree.total                           # 0-d float64 tensor: 2.5
    """

    tree: torch.Tensor

    def __init__(self, capacity: int, device: torch.device | str | None = None) -> None:
        super().__init__()
        capacity = operator.index(capacity)
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.num_leaves = 1 << (capacity - 1).bit_length()
        self.depth = self.num_leaves.bit_length() - 1
        self.levels = 0
        self.register_buffer(
            "tree", torch.zeros(2 * self.num_leaves, dtype=torch.float64, device=device)
        )
        self.register_load_state_dict_post_hook(_check_loaded_tree)

    def extra_repr(self) -> str:
        return f"capacity={self.capacity}, num_leaves={self.num_leaves}"

    @property
    def total(self) -> torch.Tensor:
        """Sum of all priorities: the root, a 0-d float64 tensor on the device."""
        return self.tree[1]

    def priorities(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Leaf values (a copy): all of them [K], or those of ``indices`` [B] -> [B] float64."""
        leaves = self.tree[self.num_leaves : self.num_leaves + self.capacity]
        if indices is None:
            return leaves.clone()
        return leaves[indices.to(self.tree.device)]

    def probabilities(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """priority / total of ``indices`` [B] -> [B] float64 (all [K] if None).

        NaN where the total is 0 (no sync is made to check it).
        """
        return self.priorities(indices) / self.total

    @torch.no_grad()
    def update(
        self, indices: torch.Tensor, priorities: torch.Tensor, *, validate: bool = True
    ) -> None:
        """Set leaves ``indices`` [B] to ``priorities`` [B] and repair their ancestors.

        ``priorities`` may be any float dtype and device, and is broadcast to [B] (a scalar
        sets every index to one value). Repeated indices: the last write wins (the value at
        the highest position in the batch), on every device.

        Cost: a stable sort of B indices, then one gather-and-scatter of B nodes per level,
        i.e. O(B log B + B log K) work in ``depth`` Python iterations. With ``validate``
        (default) one device sync checks that indices lie in [0, capacity) and priorities
        are finite and >= 0, raising ValueError otherwise.
        """
        dtype = indices.dtype
        if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
            raise TypeError(f"indices must be an integer tensor, got {dtype}")
        if indices.dim() != 1:
            raise ValueError(f"indices must be 1-D [B], got shape {tuple(indices.shape)}")
        device = self.tree.device
        leaves = indices.to(device=device, dtype=torch.long)
        values = torch.broadcast_to(priorities.to(device=device, dtype=torch.float64), leaves.shape)
        self.levels = 0
        if leaves.numel() == 0:
            return
        if validate:
            bad_index, bad_value = torch.stack(
                [
                    ((leaves < 0) | (leaves >= self.capacity)).any(),
                    ~(values >= 0).all() | torch.isinf(values).any(),  # ~(>= 0) catches NaN
                ]
            ).tolist()
            if bad_index:
                raise ValueError(f"indices must lie in [0, {self.capacity})")
            if bad_value:
                raise ValueError("priorities must be finite and non-negative")

        # Last write wins: after a stable sort, repeats form runs in batch order; every member
        # of a run takes the value of the run's last member, so repeated writes agree.
        leaves, order = torch.sort(leaves, stable=True)
        values = values[order]
        positions = torch.arange(leaves.numel(), device=device)
        run_end = torch.ones_like(leaves, dtype=torch.bool)
        run_end[:-1] = leaves[1:] != leaves[:-1]
        last = torch.where(run_end, positions, leaves.numel())
        last = last.flip(0).cummin(0).values.flip(0)  # position of the end of each run
        nodes = leaves + self.num_leaves
        self.tree[nodes] = values[last]

        children = self.tree.view(-1, 2)  # row n = (node 2n, node 2n + 1)
        for _ in range(self.depth):
            self.levels += 1
            nodes = nodes // 2  # siblings share a parent: duplicate writes of one value
            self.tree[nodes] = children[nodes].sum(dim=1)

    @torch.no_grad()
    def rebuild(self) -> None:
        """Recompute every internal node from the leaves, one slice per level.

        Clears any rounding accumulated by other code paths, and re-zeroes padding leaves.
        """
        self.tree[self.num_leaves + self.capacity :] = 0
        self.tree[0] = 0
        children = self.tree.view(-1, 2)
        self.levels = 0
        width = self.num_leaves // 2
        while width >= 1:  # nodes [width, 2 * width) form one level
            self.levels += 1
            self.tree[width : 2 * width] = children[width : 2 * width].sum(dim=1)
            width //= 2

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` slot indices drawn with P(i) = priority_i / total -> int64 [num].

        Stratified: [0, total) is cut into ``num`` equal segments with one uniform point in
        each (lower variance than independent draws; the result is ordered by segment). All
        points descend the tree together. A zero-priority or padding leaf is never returned,
        including for points that rounding pushes onto a segment edge or up to the total.

        The uniforms are drawn on ``generator``'s device (default: the tree's) and moved, so
        one seed gives the same draws on CPU and CUDA trees. Raises ValueError if the total
        is 0. Syncs once to read the total.
        """
        num = operator.index(num)
        if num < 0:
            raise ValueError(f"num must be non-negative, got {num}")
        device = self.tree.device
        if num == 0:
            return torch.empty(0, dtype=torch.long, device=device)
        total = float(self.total)
        if not total > 0:
            raise ValueError("cannot sample from a sum-tree whose priorities are all zero")
        if not math.isfinite(total):
            raise ValueError(f"sum-tree total is {total}; call update with finite priorities")
        draw_device = generator.device if generator is not None else device
        offsets = torch.rand(num, generator=generator, device=draw_device, dtype=torch.float64)
        segments = torch.arange(num, device=draw_device, dtype=torch.float64)
        points = ((segments + offsets) * (total / num)).clamp_(max=math.nextafter(total, 0.0))
        return self._descend(points.to(device))

    def _descend(self, points: torch.Tensor) -> torch.Tensor:
        """Leaf index holding each prefix-sum point: float64 [N] -> int64 [N].

        A point goes right when it is past the left child's sum and the right subtree is not
        empty, or when the left subtree is empty. The walk starts at the root (> 0) and only
        enters non-empty children, so it ends on a positive leaf even for points >= total.
        """
        children = self.tree.view(-1, 2)
        nodes = torch.ones(points.shape, dtype=torch.long, device=points.device)
        self.levels = 0
        for _ in range(self.depth):
            self.levels += 1
            left, right = children[nodes].unbind(dim=1)
            go_right = ((points >= left) & (right > 0)) | (left <= 0)
            points = torch.where(go_right, points - left, points)
            nodes = 2 * nodes + go_right.long()
        return nodes - self.num_leaves

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> SumTree:
        # .half() / .to(dtype) would round the sums; keep float64 (device moves still apply).
        before = self.tree
        super()._apply(fn, *args, **kwargs)
        if self.tree.dtype != torch.float64:
            self.tree = before.to(device=self.tree.device, dtype=torch.float64)
        return self


def _check_loaded_tree(module: nn.Module, incompatible_keys: Any) -> None:
    """load_state_dict post-hook: a tree of another capacity may share L; refuse its padding."""
    assert isinstance(module, SumTree)
    padding = module.tree[module.num_leaves + module.capacity :]
    if padding.numel() and bool((padding != 0).any()):
        raise ValueError(
            f"loaded sum-tree has non-zero leaves beyond capacity {module.capacity}: "
            "it was saved from a tree of larger capacity"
        )
