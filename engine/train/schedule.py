"""Learning-rate schedule: linear warmup, then a half cosine down to zero."""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, total_steps: int, peak_lr: float, warmup_steps: int) -> float:
    """Learning rate at ``step`` (0-based) of ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
