"""EMA key/target encoders: the momentum schedule and a vectorized update.

Usage::

    schedule = MomentumSchedule(base=0.99, total_steps=10_000, kind="cosine")
    ema_update(target_encoder, online_encoder, schedule(step))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class MomentumSchedule:
    """m(step) rising from ``base`` to 1 on a half cosine over ``total_steps`` (BYOL, MoCo v3).

    ``kind="constant"`` keeps m = base (MoCo v1/v2).
    """

    base: float
    total_steps: int
    kind: Literal["cosine", "constant"] = "cosine"

    def __call__(self, step: int) -> float:
        if self.kind == "constant" or self.total_steps <= 0:
            return self.base
        progress = min(max(step / self.total_steps, 0.0), 1.0)
        return 1.0 - (1.0 - self.base) * (math.cos(math.pi * progress) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target = m * theta_target + (1 - m) * theta_online, for all parameters at once.

    One fused ``torch._foreach_lerp_`` over the parameter lists instead of a Python loop of
    per-tensor kernels. Buffers (BatchNorm running statistics) are left alone: as in MoCo, the
    target keeps the statistics of its own forward passes.
    """
    target_params = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    if len(target_params) != len(online_params):
        raise ValueError("target and online encoders must have the same structure")
    if target_params:
        torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)


def copy_weights_and_freeze(target: nn.Module, online: nn.Module) -> None:
    """Initialize the target from the online encoder and stop gradients into it."""
    target.load_state_dict(online.state_dict())
    for param in target.parameters():
        param.requires_grad_(False)
