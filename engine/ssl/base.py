"""What every self-supervised method looks like to the training loop.

    output = method(view1, view2)          # forward: loss and logged scalars
    output.loss.backward(); optimizer.step()
    method.after_optimizer_step(step)      # EMA of the target encoder, memory update
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.ssl.momentum import MomentumSchedule, ema_update


@dataclass
class StepOutput:
    """loss: scalar to back-propagate; metrics: detached scalars for the progress log."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


class SelfSupervisedMethod(nn.Module):
    """Base class: an online branch trained by gradient, a target branch trained by EMA.

    Subclasses set ``online_encoder`` and ``target_encoder`` (same structure) and implement
    ``forward``; keys that must enter memories after the backward pass go to
    ``_update_memories``.
    """

    online_encoder: nn.Module
    target_encoder: nn.Module

    def __init__(self, momentum: MomentumSchedule) -> None:
        super().__init__()
        self.momentum = momentum

    @property
    def backbone(self) -> nn.Module:
        """The online backbone: what ``embed``, ``eval`` and downstream tasks use."""
        return self.online_encoder.backbone

    @property
    def needs_geometry(self) -> bool:
        """Whether ``forward`` takes the views' geometry (``geometry1``, ``geometry2``,
        ``generator`` keywords): methods with a local objective do."""
        return False

    @property
    def needs_generator(self) -> bool:
        """Whether ``forward`` takes a ``generator`` keyword for random draws of its own."""
        return self.needs_geometry

    @property
    def takes_owners(self) -> bool:
        """Whether ``forward`` takes an ``owners`` keyword (whose each image is) to leave a
        query's own memory keys out of its negatives: methods with memories of keys do."""
        return False

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> StepOutput:
        raise NotImplementedError

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """Move the target encoder towards the online one, then refresh the memories."""
        ema_update(self.target_encoder, self.online_encoder, self.momentum(step))
        self._update_memories(step)

    def _update_memories(self, step: int) -> None:
        """Default: no memory (MoCo v3)."""
