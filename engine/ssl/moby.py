"""MoBY (Xie et al. 2021): MoCo's memory meets BYOL's predictor and asymmetric augmentations.

    p1, p2 = normalize(predictor(projector(backbone(view_i))))   online, drop-path on
    z1, z2 = normalize(target_projector(target_backbone(view_i))) EMA, no gradient
    loss = InfoNCE(p1, z2, memory2) + InfoNCE(p2, z1, memory1)
         + alpha · ReLIC-KL(p1, p2 over the same candidates)      (alpha = 0: plain MoBY)
    (times ``global_weight``; 0 leaves the local terms below alone: the memories still fill,
    the global heads get no gradient)
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

With a ``DenseObjective`` (``engine.ssl.dense``) both branches also project a middle stage's
map, and the online prediction at each image point shared by two views learns to pick out
the target feature at that point in the other view: the local term small defects need. It
follows the same directions as the global loss and needs the views' geometry.

With local views (multi-crop, ``augment.local_crops``) each small crop goes through the
online branch alone and predicts the target keys its image already has (both views' keys, or
in one-way steps the one key of that image), against the same memory draws; their term is
the mean over the crops, so it weighs as much as the global pair however many crops there
are. They enter no memory.

With a ``DefectSegmentation`` (``engine.ssl.defects``) part of view 1 also gets a painted
blemish and a separate, shallower online pass learns to find it (the subtask anomaly
detection needs: noticing, where the other terms teach ignoring).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.data.geometry import ViewGeometry
from engine.ssl.base import SelfSupervisedMethod, StepOutput
from engine.ssl.batchnorm import ghost_batch_forward, shuffled_forward
from engine.ssl.defects import DefectSegmentation
from engine.ssl.dense import DenseObjective
from engine.ssl.heads import Encoder
from engine.ssl.losses import info_nce, memory_logits, relic_invariance, relic_toward_target
from engine.ssl.memory import NegativeDraw, NegativeMemory
from engine.ssl.momentum import MomentumSchedule, copy_weights_and_freeze

# The local objective's inputs for one direction: online dense predictions [N, D', h, w] and
# the geometry of their views, target dense keys [N, D', h, w] and the geometry of theirs.
DensePair = tuple[torch.Tensor, ViewGeometry, torch.Tensor, ViewGeometry]


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
        dense: DenseObjective | None = None,
        dense_predictor: nn.Module | None = None,
        defects: DefectSegmentation | None = None,
        global_weight: float = 1.0,
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
        self.global_weight = global_weight
        self.shuffle_keys = shuffle_keys
        self.bn_splits = bn_splits
        self.symmetric = symmetric
        if (dense is None) != (dense_predictor is None):
            raise ValueError("the dense objective needs its predictor, and only it")
        self.dense = dense
        self.dense_predictor = dense_predictor
        self.defects = defects
        self._pending: list[tuple[NegativeMemory, torch.Tensor, NegativeDraw, torch.Tensor,
                                  torch.Tensor | None]] = []

    @property
    def needs_geometry(self) -> bool:
        """Whether ``forward`` needs the views' geometry (the local objective is on)."""
        return self.dense is not None

    @property
    def needs_generator(self) -> bool:
        """Whether ``forward`` draws random numbers of its own (points, blemishes)."""
        return self.dense is not None or self.defects is not None

    @property
    def takes_owners(self) -> bool:
        return True

    def _predict_global(self, view: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> normalized predictions [N, D] (no dense map)."""
        predictions = ghost_batch_forward(
            lambda chunk: self.predictor(self.online_encoder(chunk)), view, self.bn_splits)
        return F.normalize(predictions, dim=1)

    def _predict(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[N, C, H, W] -> normalized predictions [N, D] and, with the local objective, the
        dense predictions [N, D', h, w] (else None)."""
        if self.dense_predictor is None:
            return self._predict_global(view), None

        def predict_both(chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            projections, dense = self.online_encoder.forward_dense(chunk)
            return self.predictor(projections), self.dense_predictor(dense)

        predictions, dense = ghost_batch_forward(predict_both, view, self.bn_splits)
        return F.normalize(predictions, dim=1), dense

    @torch.no_grad()
    def _target(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[N, C, H, W] -> normalized target keys [N, D] and, with the local objective, the
        dense keys [N, D', h, w] (else None)."""
        encoder = self.target_encoder
        forward = encoder.forward_dense if self.dense is not None else encoder
        if self.shuffle_keys:
            keys = shuffled_forward(forward, view, self.bn_splits)
        else:
            keys = forward(view)
        if self.dense is None:
            return F.normalize(keys, dim=1), None
        return F.normalize(keys[0], dim=1), keys[1]

    def forward(self, view1: torch.Tensor, view2: torch.Tensor,
                geometry1: ViewGeometry | None = None, geometry2: ViewGeometry | None = None,
                generator: torch.Generator | None = None,
                local_views: torch.Tensor | None = None,
                owners: torch.Tensor | None = None) -> StepOutput:
        """view1, view2: [N, C, H, W], the two augmentations of the same N images; their
        geometries (needed by the local objective only); ``generator`` draws the local
        objective's points and the synthetic defects (on the views' device); local_views:
        [L, N, C, s, s] multi-crop views of the same images, or None; owners: int64 [N],
        whose each image is (itself or its physical part): memory keys of a query's own
        owner are no negatives of it (None: every drawn key is)."""
        if self.dense is not None and (geometry1 is None or geometry2 is None):
            raise ValueError("the dense objective needs both views' geometry")
        encode = self._encode_both_ways if self.symmetric else self._encode_one_way
        pred1, key2, pred2, key1, dense_pairs = encode(view1, view2, geometry1, geometry2)
        draw1, draw2 = self.memory1.draw(), self.memory2.draw()
        # whose the rows of (pred1, key2) and of (pred2, key1) are
        owners1, owners2 = self._row_owners(owners, view1.shape[0])

        # One-way halves: each half's mean keeps the symmetric loss's weight per image (2/N).
        logits_12 = memory_logits(pred1, key2, draw2.keys, self.temperature,
                                  draw2.log_weights_for(owners1))
        logits_21 = memory_logits(pred2, key1, draw1.keys, self.temperature,
                                  draw1.log_weights_for(owners2))
        contrastive = info_nce(logits_12) + info_nce(logits_21)
        metrics = {"contrastive": contrastive.detach()}
        global_term = contrastive
        if self.relic_alpha > 0:
            invariance = self._relic(pred1, key2, pred2, key1, draw1, draw2)
            global_term = global_term + self.relic_alpha * invariance
            metrics["relic_kl"] = invariance.detach()
        loss = self.global_weight * global_term
        if local_views is not None:
            crops = self._local_crops_loss(local_views, key1, key2, draw1, draw2, owners)
            loss = loss + crops
            metrics["local_crops"] = crops.detach()
        if self.dense is not None:
            local = self._dense_loss(dense_pairs, generator)
            loss = loss + self.dense.weight * local
            metrics["dense"] = local.detach()
        if self.defects is not None:
            defect_loss, defect_metrics = self.defects(self.online_encoder.backbone, view1,
                                                       generator)
            loss = loss + self.defects.settings.weight * defect_loss
            metrics["defects"] = defect_loss.detach()
            metrics.update(defect_metrics)

        self._pending = [
            (self.memory1, distributed.gather_from_all_ranks(key1), draw1,
             logits_21.negative_probabilities.detach(), _gathered(owners2)),
            (self.memory2, distributed.gather_from_all_ranks(key2), draw2,
             logits_12.negative_probabilities.detach(), _gathered(owners1)),
        ]
        return StepOutput(loss, metrics)

    def _row_owners(self, owners: torch.Tensor | None, count: int
                    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """owners [N] -> the owners of (pred1, key2)'s rows and of (pred2, key1)'s: all N
        both ways; one way the first half and the second."""
        if owners is None or self.symmetric:
            return owners, owners
        return owners[:count // 2], owners[count // 2:]

    def _local_crops_loss(self, local_views: torch.Tensor, key1: torch.Tensor,
                          key2: torch.Tensor, draw1: NegativeDraw, draw2: NegativeDraw,
                          owners: torch.Tensor | None = None) -> torch.Tensor:
        """local_views [L, N, C, s, s] and the step's target keys -> InfoNCE of each crop's
        prediction against its image's keys, summed over the keys (as the global pair is)
        and averaged over the L crops.

        Both ways, key1 and key2 are [N, D] and every image has both; one way, key2 [N/2, D]
        belongs to the first half of the images and key1 to the second."""
        crops, count = local_views.shape[0], local_views.shape[1]
        predictions = self._predict_global(local_views.flatten(0, 1)).view(crops, count, -1)
        if self.symmetric:
            targets = [(key1, draw1, slice(None)), (key2, draw2, slice(None))]
        else:
            half = count // 2
            targets = [(key2, draw2, slice(0, half)), (key1, draw1, slice(half, count))]
        total = predictions.new_zeros(())
        for keys, draw, images in targets:
            queries = predictions[:, images].flatten(0, 1)
            query_owners = None if owners is None else owners[images].repeat(crops)
            logits = memory_logits(queries, keys.repeat(crops, 1), draw.keys,
                                   self.temperature, draw.log_weights_for(query_owners))
            total = total + info_nce(logits)
        return total

    def _dense_loss(self, pairs: list[DensePair], generator: torch.Generator | None
                    ) -> torch.Tensor:
        """Sum over directions of the local objective; a one-way step's single pair covers
        every image once, so it counts twice, as the two half-batch global terms do."""
        assert self.dense is not None
        total = sum(self.dense.loss(*pair, generator=generator) for pair in pairs)
        return total * (2 / len(pairs))

    def _encode_both_ways(
        self, view1: torch.Tensor, view2: torch.Tensor,
        geometry1: ViewGeometry | None, geometry2: ViewGeometry | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[DensePair]]:
        """Every image in both directions -> (pred1, key2, pred2, key1), each [N, D], and the
        local objective's (online dense, its geometry, target dense, its geometry) pairs."""
        (pred1, dense_pred1), (pred2, dense_pred2) = self._predict(view1), self._predict(view2)
        (key1, dense_key1), (key2, dense_key2) = self._target(view1), self._target(view2)
        pairs = []
        if self.dense is not None:
            pairs = [(dense_pred1, geometry1, dense_key2, geometry2),
                     (dense_pred2, geometry2, dense_key1, geometry1)]
        return pred1, key2, pred2, key1, pairs

    def _encode_one_way(
        self, view1: torch.Tensor, view2: torch.Tensor,
        geometry1: ViewGeometry | None, geometry2: ViewGeometry | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[DensePair]]:
        """[:N/2] predicts view 2 from view 1, [N/2:] the reverse: one online and one target
        pass -> (pred1, key2) of the first half, (pred2, key1) of the second, each [N/2, D],
        and the local objective's one (online dense, geometry, target dense, geometry) pair."""
        half = view1.shape[0] // 2
        pred, dense_pred = self._predict(torch.cat([view1[:half], view2[half:]]))
        key, dense_key = self._target(torch.cat([view2[:half], view1[half:]]))
        pairs = []
        if self.dense is not None:
            assert geometry1 is not None and geometry2 is not None
            online = ViewGeometry.cat([geometry1[:half], geometry2[half:]])
            target = ViewGeometry.cat([geometry2[:half], geometry1[half:]])
            pairs = [(dense_pred, online, dense_key, target)]
        return pred[:half], key[:half], pred[half:], key[half:], pairs

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
        for memory, keys, draw, probabilities, owners in self._pending:
            memory.update(keys, draw, probabilities, step, owners)
        self._pending = []


def _gathered(owners: torch.Tensor | None) -> torch.Tensor | None:
    """Every rank's owners in rank order, as the keys are gathered."""
    return None if owners is None else distributed.gather_from_all_ranks(owners)


def _log_weights_or_zeros(draw: NegativeDraw) -> torch.Tensor:
    if draw.log_weights is not None:
        return draw.log_weights
    return draw.keys.new_zeros(draw.keys.shape[0])
