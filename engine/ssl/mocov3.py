"""MoCo v3 (Chen, Xie, He 2021): no queue; every other image of the batch is a negative.

    q1, q2 = predictor(projector(backbone(view_i)))         [N, 256]
    k1, k2 = target_projector(target_backbone(view_i))      [N, 256] (no gradient)
    loss = ctr(q1, k2) + ctr(q2, k1),  ctr = CE(q·all_keys / T, own index) · 2T

Keys are all-gathered across ranks. Momentum follows a cosine schedule from 0.99 to 1.
For ViTs, ``freeze_patch_embed`` in the backbone config gives the paper's frozen random patch
projection; the trainer picks LARS for ResNets and AdamW for ViTs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.ssl.base import SelfSupervisedMethod, StepOutput
from engine.ssl.heads import Encoder
from engine.ssl.losses import batch_contrastive_loss
from engine.ssl.momentum import MomentumSchedule, copy_weights_and_freeze


class MoCoV3(SelfSupervisedMethod):
    """Symmetric in-batch contrastive loss with a predictor on the online side."""

    def __init__(
        self,
        online_encoder: Encoder,
        target_encoder: Encoder,
        predictor: nn.Module,
        temperature: float,
        momentum: MomentumSchedule,
    ) -> None:
        super().__init__(momentum)
        self.online_encoder = online_encoder
        self.target_encoder = target_encoder
        copy_weights_and_freeze(self.target_encoder, self.online_encoder)
        self.predictor = predictor
        self.temperature = temperature

    def _contrast(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        queries = F.normalize(queries, dim=1)
        all_keys = distributed.gather_from_all_ranks(F.normalize(keys, dim=1))
        return batch_contrastive_loss(queries, all_keys, self.temperature, distributed.rank())

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> StepOutput:
        query1 = self.predictor(self.online_encoder(view1))
        query2 = self.predictor(self.online_encoder(view2))
        with torch.no_grad():
            key1 = self.target_encoder(view1)
            key2 = self.target_encoder(view2)
        loss = self._contrast(query1, key2) + self._contrast(query2, key1)
        return StepOutput(loss, {"contrastive": loss.detach()})
