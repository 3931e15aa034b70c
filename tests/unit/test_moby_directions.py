"""MoBY's one-direction (split) step: half the passes, the same loss terms per image."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import HatcheryInputError
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.schemas.runnable import DataFacts, check_pretrain
from engine.ssl.heads import Encoder
from engine.ssl.losses import info_nce, memory_logits, relic_toward_target
from engine.ssl.memory import FifoQueue
from engine.ssl.moby import MoBY
from engine.ssl.momentum import MomentumSchedule

DIM, BATCH = 6, 8


class CountingEncoder(Encoder):
    """A linear 'backbone' that records how many images each call encodes."""

    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.Linear(3 * 2 * 2, DIM))
        self.calls: list[int] = []

    def forward(self, images):
        self.calls.append(images.shape[0])
        return super().forward(images)


def make_moby(symmetric: bool, relic_alpha: float = 1.0) -> MoBY:
    torch.manual_seed(0)
    return MoBY(CountingEncoder(), CountingEncoder(), nn.Identity(),
                FifoQueue(16, DIM), FifoQueue(16, DIM), temperature=0.2,
                momentum=MomentumSchedule(0.99, 10), relic_alpha=relic_alpha,
                symmetric=symmetric)


def views() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(BATCH, 3, 2, 2), torch.randn(BATCH, 3, 2, 2)


def test_split_step_encodes_each_image_once_per_branch():
    view1, view2 = views()
    symmetric, split = make_moby(symmetric=True), make_moby(symmetric=False)
    symmetric(view1, view2)
    split(view1, view2)
    assert symmetric.online_encoder.calls == [BATCH, BATCH]
    assert symmetric.target_encoder.calls == [BATCH, BATCH]
    assert split.online_encoder.calls == [BATCH]
    assert split.target_encoder.calls == [BATCH]


def test_split_step_is_infonce_of_each_half_against_the_other_views_memory_plus_relic():
    view1, view2 = views()
    moby = make_moby(symmetric=False)
    memory1_keys, memory2_keys = moby.memory1.keys.clone(), moby.memory2.keys.clone()
    output = moby(view1, view2)

    half = BATCH // 2
    pred = F.normalize(moby.online_encoder(torch.cat([view1[:half], view2[half:]])), dim=1)
    with torch.no_grad():
        key = F.normalize(moby.target_encoder(torch.cat([view2[:half], view1[half:]])), dim=1)
    contrastive = (info_nce(memory_logits(pred[:half], key[:half], memory2_keys, 0.2))
                   + info_nce(memory_logits(pred[half:], key[half:], memory1_keys, 0.2)))
    candidates = torch.cat([key, memory1_keys, memory2_keys])
    relic = relic_toward_target(pred @ candidates.T / 0.2, key @ candidates.T / 0.2)
    torch.testing.assert_close(output.loss, contrastive + relic)

    moby.after_optimizer_step(0)  # each memory receives the keys of its own view
    torch.testing.assert_close(moby.memory1.keys[:half], key[half:])
    torch.testing.assert_close(moby.memory2.keys[:half], key[:half])


def test_split_step_sends_gradients_to_the_online_branch_only():
    view1, view2 = views()
    moby = make_moby(symmetric=False)
    moby(view1, view2).loss.backward()
    assert all(p.grad is not None for p in moby.online_encoder.parameters())
    assert all(p.grad is None for p in moby.target_encoder.parameters())


def test_relic_toward_target_moves_only_the_online_distribution():
    online = torch.randn(3, 7, requires_grad=True)
    target = torch.randn(3, 7, requires_grad=True)
    value = relic_toward_target(online, target)
    value.backward()
    assert online.grad is not None and target.grad is None
    assert float(relic_toward_target(target.detach(), target.detach())) < 1e-7


def hatchery(**loss) -> PretrainConfig:
    return PretrainConfig.model_validate({
        "method": "hatchery", "data": {"path": "unused", "image_size": 64},
        "backbone": {"name": "resnet18"}, "batch_size": 128, "loss": loss})


def test_recipes_keep_keys_as_long_in_either_direction_mode():
    both = resolve_pretrain_config(hatchery(), dataset_size=1770)
    split = resolve_pretrain_config(hatchery(symmetric=False), dataset_size=1770)
    assert both.loss.symmetric is True and split.loss.symmetric is False
    # Twice a FIFO lifetime: a split step inserts half a batch of keys into each memory.
    assert both.memory.max_age == 2 * 1664 // 128
    assert split.memory.max_age == 2 * 1664 // 64


@pytest.mark.parametrize(
    ("method", "device_type", "symmetric"),
    [("hatchery", "cpu", False), ("hatchery", "cuda", True), ("hatchery", None, True),
     ("moby", "cpu", True), ("mocov3", "cpu", True), ("mocov2", "cuda", False)],
)
def test_directions_are_planned_for_the_device(method, device_type, symmetric):
    """Ours trains one direction per image on a CPU; the papers' methods keep their recipe."""
    config = PretrainConfig.model_validate({
        "method": method, "data": {"path": "unused"}, "batch_size": 8})
    resolved = resolve_pretrain_config(config, dataset_size=100, device_type=device_type)
    assert resolved.loss.symmetric is symmetric
    assert resolve_pretrain_config(resolved, 100, device_type) == resolved


@pytest.mark.parametrize(("method", "symmetric"), [("mocov3", False), ("mocov2", True)])
def test_direction_mode_is_refused_where_the_method_has_none(method, symmetric):
    config = PretrainConfig.model_validate({
        "method": method, "data": {"path": "unused"}, "batch_size": 8,
        "loss": {"symmetric": symmetric}})
    resolved = resolve_pretrain_config(config, dataset_size=100)
    with pytest.raises(HatcheryInputError, match=f"loss.symmetric: {str(symmetric).lower()}"):
        check_pretrain(resolved, DataFacts("folder", images=100))
