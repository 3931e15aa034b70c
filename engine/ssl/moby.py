"""MoBY (Xie et al. 2021): MoCo's memory meets BYOL's predictor and asymmetric augmentations.

    p1, p2 = normalize(predictor(projector(backbone(view_i))))   online, drop-path on
    z1, z2 = normalize(target_projector(target_backbone(view_i))) EMA, no gradient
    loss = InfoNCE(p1, z2, memory2) + InfoNCE(p2, z1, memory1)
         + alpha · ReLIC-KL(p1, p2 over the same candidates)      (alpha = 0: plain MoBY)
    after the optimizer step: target <- EMA(online) on a cosine schedule; z1 -> memory1,
    z2 -> memory2

With ``relic_alpha > 0`` and priority memories this is Hatchery's default method. The ReLIC
candidates shared by both views are the batch's keys of both views and both memories' draws.

``symmetric=False`` halves the passes per step (one online and one target forward of N views
instead of two each): the first half of the batch predicts view 2 from view 1, the second
half view 1 from view 2, so both augmentation pipelines still train the online branch every
step and each memory still receives keys of its own view. ReLIC's second distribution is then
the target key of the other view over the same candidates (stop-gradient side). Where compute
bounds the run (a CPU, a short budget) this buys nearly twice the steps for the same time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.ssl.base import SelfSupervisedMethod, StepOutput
from engine.ssl.batchnorm import ghost_batch_forward, shuffled_forward
from engine.ssl.heads import Encoder
from engine.ssl.losses import info_nce, memory_logits, relic_invariance, relic_toward_target
from engine.ssl.memory import NegativeDraw, NegativeMemory
from engine.ssl.momentum import MomentumSchedule, copy_weights_and_freeze


class MoBY(SelfSupervisedMethod):
    """Symmetric InfoNCE of predictions against target keys and one memory per view."""

    def __init__(
        self,
        online_encoder: Encoder,
        target_encoder: Encoder,
        predictor: nn.Module,
        memory1: NegativeMemory,
        memory2: NegativeMemory,
        temperature: float,
        momentum: MomentumSchedule,
        relic_alpha: float = 0.0,
        shuffle_keys: bool = False,
        bn_splits: int = 1,
        symmetric: bool = True,
    ) -> None:
        super().__init__(momentum)
        self.online_encoder = online_encoder
        self.target_encoder = target_encoder
        # The target backbone may differ in drop-path rate only: same parameters.
        copy_weights_and_freeze(self.target_encoder, self.online_encoder)
        self.predictor = predictor
        self.memory1 = memory1
        self.memory2 = memory2
        self.temperature = temperature
        self.relic_alpha = relic_alpha
        self.shuffle_keys = shuffle_keys
        self.bn_splits = bn_splits
        self.symmetric = symmetric
        self._pending: list[tuple[NegativeMemory, torch.Tensor, NegativeDraw, torch.Tensor]] = []

    def _predict(self, view: torch.Tensor) -> torch.Tensor:
        predictions = ghost_batch_forward(
            lambda chunk: self.predictor(self.online_encoder(chunk)), view, self.bn_splits
        )
        return F.normalize(predictions, dim=1)

    @torch.no_grad()
    def _target(self, view: torch.Tensor) -> torch.Tensor:
        if self.shuffle_keys:
            return F.normalize(shuffled_forward(self.target_encoder, view, self.bn_splits), dim=1)
        return F.normalize(self.target_encoder(view), dim=1)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> StepOutput:
        """view1, view2: [N, C, H, W], the two augmentations of the same N images."""
        encode = self._encode_both_ways if self.symmetric else self._encode_one_way
        pred1, key2, pred2, key1 = encode(view1, view2)
        draw1, draw2 = self.memory1.draw(), self.memory2.draw()

        # One-way halves: each half's mean keeps the symmetric loss's weight per image (2/N).
        logits_12 = memory_logits(pred1, key2, draw2.keys, self.temperature, draw2.log_weights)
        logits_21 = memory_logits(pred2, key1, draw1.keys, self.temperature, draw1.log_weights)
        contrastive = info_nce(logits_12) + info_nce(logits_21)
        metrics = {"contrastive": contrastive.detach()}
        loss = contrastive
        if self.relic_alpha > 0:
            invariance = self._relic(pred1, key2, pred2, key1, draw1, draw2)
            loss = loss + self.relic_alpha * invariance
            metrics["relic_kl"] = invariance.detach()

        self._pending = [
            (self.memory1, distributed.gather_from_all_ranks(key1), draw1,
             logits_21.negative_probabilities.detach()),
            (self.memory2, distributed.gather_from_all_ranks(key2), draw2,
             logits_12.negative_probabilities.detach()),
        ]
        return StepOutput(loss, metrics)

    def _encode_both_ways(
        self, view1: torch.Tensor, view2: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Every image in both directions -> (pred1, key2, pred2, key1), each [N, D]."""
        pred1, pred2 = self._predict(view1), self._predict(view2)
        key1, key2 = self._target(view1), self._target(view2)
        return pred1, key2, pred2, key1

    def _encode_one_way(
        self, view1: torch.Tensor, view2: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """[:N/2] predicts view 2 from view 1, [N/2:] the reverse: one online and one target
        pass -> (pred1, key2) of the first half, (pred2, key1) of the second, each [N/2, D]."""
        half = view1.shape[0] // 2
        pred = self._predict(torch.cat([view1[:half], view2[half:]]))
        key = self._target(torch.cat([view2[:half], view1[half:]]))
        return pred[:half], key[:half], pred[half:], key[half:]

    def _relic(
        self,
        pred1: torch.Tensor,
        key2: torch.Tensor,
        pred2: torch.Tensor,
        key1: torch.Tensor,
        draw1: NegativeDraw,
        draw2: NegativeDraw,
    ) -> torch.Tensor:
        """ReLIC's KL over one candidate set: the batch's keys and both memories' draws.

        Both ways: between the two online predictions of each image. One way: between each
        image's online prediction and its target key of the other view (stop-gradient side).
        """
        if self.symmetric:
            logits1, logits2 = self._candidate_logits(
                [pred1, pred2], [key1, key2], [draw1, draw2])
            return relic_invariance(logits1, logits2)
        pred, key = torch.cat([pred1, pred2]), torch.cat([key2, key1])
        online_logits, target_logits = self._candidate_logits([pred, key], [key], [draw1, draw2])
        return relic_toward_target(online_logits, target_logits)

    def _candidate_logits(
        self,
        queries: list[torch.Tensor],
        batch_keys: list[torch.Tensor],
        draws: list[NegativeDraw],
    ) -> list[torch.Tensor]:
        """Each [N, D] query set against one candidate set: the batch keys and the drawn
        negatives (with their log-weights) -> one [N, sum(B) + sum(M)] logits per query set."""
        candidates = torch.cat([*batch_keys, *(draw.keys for draw in draws)])
        log_weights = torch.cat([
            *(keys.new_zeros(keys.shape[0]) for keys in batch_keys),
            *(_log_weights_or_zeros(draw) for draw in draws),
        ])
        dtype = queries[0].dtype
        candidates, log_weights = candidates.to(dtype), log_weights.to(dtype)
        return [q.to(dtype) @ candidates.T / self.temperature + log_weights for q in queries]

    def _update_memories(self, step: int) -> None:
        for memory, keys, draw, probabilities in self._pending:
            memory.update(keys, draw, probabilities, step)
        self._pending = []


def _log_weights_or_zeros(draw: NegativeDraw) -> torch.Tensor:
    if draw.log_weights is not None:
        return draw.log_weights
    return draw.keys.new_zeros(draw.keys.shape[0])
