"""InfoNCE weighting, ReLIC's KL, the cosine momentum schedule and EMA, ghost batches."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.ssl.batchnorm import ghost_batch_forward, shuffled_forward
from engine.ssl.losses import batch_contrastive_loss, info_nce, memory_logits, relic_invariance
from engine.ssl.memory import EMPTY_SLOT_LOG_WEIGHT
from engine.ssl.momentum import MomentumSchedule, ema_update


def unit(n: int, dim: int = 8) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim), dim=1)


def test_log_weights_reweight_negatives_in_the_denominator():
    torch.manual_seed(0)
    q, k, negatives = unit(3), unit(3), unit(5)
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0, 0.0])
    log_weights = torch.log(weights).clamp_min(EMPTY_SLOT_LOG_WEIGHT)
    logits = memory_logits(q, k, negatives, 0.2, log_weights)
    positive = ((q * k).sum(1) / 0.2).exp()
    denominator = positive + ((q @ negatives.T / 0.2).exp() * weights).sum(1)
    expected = -(positive / denominator).log().mean()
    torch.testing.assert_close(info_nce(logits), expected)


def test_relic_is_zero_for_identical_distributions_and_positive_otherwise():
    logits = torch.randn(4, 10)
    assert float(relic_invariance(logits, logits)) < 1e-7
    assert float(relic_invariance(logits, torch.randn(4, 10))) > 0


def test_relic_stops_the_gradient_on_the_target_side():
    first = torch.randn(2, 6, requires_grad=True)
    second = torch.randn(2, 6, requires_grad=True)
    # KL(sg(p1) || p2) alone: only `second` may receive a gradient.
    log_p1, log_p2 = F.log_softmax(first, 1), F.log_softmax(second, 1)
    F.kl_div(log_p2, log_p1.detach(), log_target=True, reduction="batchmean").backward()
    assert first.grad is None and second.grad is not None
    # The symmetrized term sends gradients to both sides, each from its own half.
    a = first.detach().clone().requires_grad_()
    b = second.detach().clone().requires_grad_()
    relic_invariance(a, b).backward()
    assert a.grad is not None and b.grad is not None


def test_relic_ignores_empty_memory_slots():
    logits = torch.randn(3, 6)
    masked = torch.cat([logits, torch.full((3, 4), EMPTY_SLOT_LOG_WEIGHT)], dim=1)
    other = torch.randn(3, 6)
    masked_other = torch.cat([other, torch.full((3, 4), EMPTY_SLOT_LOG_WEIGHT)], dim=1)
    value = relic_invariance(masked, masked_other)
    assert torch.isfinite(value)
    torch.testing.assert_close(value, relic_invariance(logits, other))


def test_batch_contrastive_loss_is_scaled_by_two_t():
    q, k = unit(4), unit(4)
    raw = F.cross_entropy(q @ k.T / 0.5, torch.arange(4))
    torch.testing.assert_close(batch_contrastive_loss(q, k, 0.5), raw * 1.0)


def test_cosine_momentum_runs_from_base_to_one():
    schedule = MomentumSchedule(base=0.99, total_steps=100)
    assert math.isclose(schedule(0), 0.99)
    assert math.isclose(schedule(50), 0.995)
    assert math.isclose(schedule(100), 1.0)
    assert all(schedule(s) <= schedule(s + 1) for s in range(100))
    assert MomentumSchedule(0.999, 100, "constant")(70) == 0.999


def test_ema_update_is_the_per_tensor_formula():
    torch.manual_seed(0)
    online, target = nn.Linear(3, 4), nn.Linear(3, 4)
    expected = [0.9 * t.detach() + 0.1 * o.detach()
                for t, o in zip(target.parameters(), online.parameters(), strict=True)]
    ema_update(target, online, 0.9)
    for value, reference in zip(target.parameters(), expected, strict=True):
        torch.testing.assert_close(value, reference)


def test_ghost_batches_normalize_each_chunk_apart():
    bn = nn.BatchNorm2d(3)
    x = torch.randn(8, 3, 4, 4)
    x[:4] += 5.0  # the first ghost batch is shifted: its own statistics remove the shift
    out = ghost_batch_forward(bn, x, splits=2)
    for chunk in out.chunk(2):
        torch.testing.assert_close(chunk.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    whole = bn(x)
    assert not torch.allclose(whole[:4].mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-2)


def test_shuffled_keys_use_other_companions_than_their_queries():
    """With ghost batches, key i is normalized with a different set of images than query i."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(1, affine=False)
    x = torch.arange(8.0).view(8, 1)
    keys = shuffled_forward(bn, x, splits=2)
    queries = ghost_batch_forward(bn, x, splits=2)
    assert not torch.allclose(keys, queries)
    # One ghost batch: the shuffle changes no statistic and the order is restored exactly.
    torch.testing.assert_close(shuffled_forward(bn, x, splits=1), bn(x))


def test_shuffled_forward_returns_keys_in_the_original_order():
    encoder = nn.Linear(5, 3)  # no BatchNorm: shuffling must not change any key
    x = torch.randn(6, 5)
    torch.testing.assert_close(shuffled_forward(encoder, x), encoder(x).detach())
