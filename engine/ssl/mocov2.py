"""MoCo v2 (Chen, Fan, Girshick, He 2020): a query encoder, an EMA key encoder, a key queue.

    q = normalize(projector(backbone(view1)))              [N, 128]
    k = normalize(key_encoder(view2))   (no gradient)       [N, 128]
    logits = [q·k | q·queue] / T,  loss = CE(logits, 0)
    after the optimizer step: key encoder <- EMA(query encoder); enqueue k

The key encoder sees a shuffled batch (shuffle-BN across ranks; on one device shuffled ghost
batches, ``bn_splits``) so BatchNorm statistics cannot betray the positive. The memory may be
the FIFO queue of the paper
or the priority memory (``memory.kind=priority``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine import distributed
from engine.ssl.base import SelfSupervisedMethod, StepOutput
from engine.ssl.batchnorm import ghost_batch_forward, shuffled_forward
from engine.ssl.heads import Encoder
from engine.ssl.losses import info_nce, memory_logits
from engine.ssl.memory import NegativeDraw, NegativeMemory
from engine.ssl.momentum import MomentumSchedule, copy_weights_and_freeze


class MoCoV2(SelfSupervisedMethod):
    """Asymmetric InfoNCE against a memory of keys. views: [N, C, H, W] each."""

    def __init__(
        self,
        query_encoder: Encoder,
        key_encoder: Encoder,
        memory: NegativeMemory,
        temperature: float,
        momentum: MomentumSchedule,
        shuffle_keys: bool = True,
        bn_splits: int = 1,
    ) -> None:
        super().__init__(momentum)
        self.online_encoder = query_encoder
        self.target_encoder = key_encoder
        copy_weights_and_freeze(self.target_encoder, self.online_encoder)
        self.memory = memory
        self.temperature = temperature
        self.shuffle_keys = shuffle_keys
        self.bn_splits = bn_splits
        self._pending: tuple[torch.Tensor, NegativeDraw, torch.Tensor] | None = None

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> StepOutput:
        queries = ghost_batch_forward(self.online_encoder, view1, self.bn_splits)
        queries = F.normalize(queries, dim=1)
        with torch.no_grad():
            if self.shuffle_keys:
                keys = shuffled_forward(self.target_encoder, view2, self.bn_splits)
            else:
                keys = self.target_encoder(view2)
            keys = F.normalize(keys, dim=1)

        draw = self.memory.draw()
        logits = memory_logits(queries, keys, draw.keys, self.temperature, draw.log_weights)
        loss = info_nce(logits)

        probabilities = logits.negative_probabilities.detach()
        self._pending = (distributed.gather_from_all_ranks(keys), draw, probabilities)
        positive_similarity = (queries * keys).sum(dim=1).mean().detach()
        return StepOutput(loss, {"contrastive": loss.detach(), "positive_sim": positive_similarity})

    def _update_memories(self, step: int) -> None:
        if self._pending is None:
            return
        keys, draw, probabilities = self._pending
        self.memory.update(keys, draw, probabilities, step)
        self._pending = None
