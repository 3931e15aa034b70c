"""Optimizers (SGD, LARS, AdamW) with weight decay kept off biases and normalization layers.

Example::

    optimizer = build_optimizer(config.optim, method, global_batch_size=256)
"""

from __future__ import annotations

import torch
from torch import nn

from engine.schemas.pretrain import OptimConfig


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio (You et al. 2017), as MoCo v3 uses it.

    For every parameter with ``ndim > 1``: g <- g + wd·p, then g <- g · eta·|p|/|g|. Biases
    and normalization parameters (``ndim <= 1``) get neither weight decay nor adaptation.
    """

    def __init__(self, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
                 trust_coefficient: float = 0.001) -> None:
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                    "trust_coefficient": trust_coefficient}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if param.ndim > 1:
                    update = update.add(param, alpha=group["weight_decay"])
                    param_norm = torch.linalg.vector_norm(param)
                    update_norm = torch.linalg.vector_norm(update)
                    ratio = group["trust_coefficient"] * param_norm / update_norm
                    trusted = (param_norm > 0) & (update_norm > 0)
                    update = update * torch.where(trusted, ratio, torch.ones_like(ratio))
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(update)
                param.add_(buffer, alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed (weights) and not decayed (biases, norms)."""
    decayed, not_decayed = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decayed if param.ndim > 1 else not_decayed).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": not_decayed, "weight_decay": 0.0},
    ]


def scaled_learning_rate(config: OptimConfig, global_batch_size: int) -> float:
    """The linear scaling rule: base_lr is given for a batch of 256."""
    return config.base_lr * global_batch_size / 256


def build_optimizer(config: OptimConfig, model: nn.Module, global_batch_size: int
                    ) -> torch.optim.Optimizer:
    lr = scaled_learning_rate(config, global_batch_size)
    groups = parameter_groups(model, config.weight_decay)
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum)
    if config.name == "lars":
        return LARS(groups, lr=lr, momentum=config.momentum)
    if config.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))
    raise ValueError(f"unknown optimizer {config.name!r}")
