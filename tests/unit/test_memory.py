"""FIFO queue and priority memory: insertion, eviction, ageing, weights, state round-trip."""

from __future__ import annotations

import io
import math

import torch
import torch.nn.functional as F

from engine.ssl.memory import EMPTY_SLOT_LOG_WEIGHT, FifoQueue, PriorityMemory


def unit(n: int, dim: int = 4) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim), dim=1)


def test_fifo_replaces_oldest_and_wraps():
    queue = FifoQueue(size=6, dim=4)
    first, second = unit(4), unit(4)
    queue.update(first, queue.draw(), None, step=0)
    queue.update(second, queue.draw(), None, step=1)
    # slots 0-3 got `first`, then 4,5,0,1 got `second`
    torch.testing.assert_close(queue.keys[[4, 5, 0, 1]], second)
    torch.testing.assert_close(queue.keys[[2, 3]], first[2:])
    assert int(queue.pointer) == 2


def test_priority_memory_fills_empty_slots_first_with_max_priority():
    memory = PriorityMemory(size=8, dim=4, max_age=100)
    draw = memory.draw()
    assert torch.all(draw.log_weights == EMPTY_SLOT_LOG_WEIGHT)  # empty memory: all masked
    memory.update(unit(3), draw, None, step=0)
    assert int(memory.valid.sum()) == 3
    assert torch.allclose(memory.priorities[memory.valid], torch.ones(3))
    assert math.isclose(float(memory.tree.total), 3.0 ** 1, rel_tol=1e-6)


def test_priorities_follow_the_softmax_mass_and_lowest_is_evicted():
    memory = PriorityMemory(size=4, dim=4, priority_exponent=1.0, importance_beta=1.0,
                            max_age=100)
    memory.update(unit(4), memory.draw(), None, step=0)
    draw = memory.draw()
    # Queries put 70%, 20%, 5%, 5% of their mass on slots 0..3 (beta=1: weights are 1).
    probabilities = torch.tensor([[0.7, 0.2, 0.05, 0.05]]).expand(3, 4)
    memory.update(torch.empty(0, 4), draw, probabilities, step=1)
    expected = torch.tensor([0.7, 0.2, 0.05, 0.05]) * 4
    torch.testing.assert_close(memory.priorities, expected)
    torch.testing.assert_close(memory.tree.priorities().float()[:4], expected)
    newcomer = unit(1)
    memory.update(newcomer, memory.draw(), None, step=2)
    # One of the two lowest-priority slots (2 or 3) was overwritten, with the max priority.
    replaced = [slot for slot in (2, 3) if torch.allclose(memory.keys[slot], newcomer[0])]
    assert len(replaced) == 1
    assert math.isclose(float(memory.priorities[replaced[0]]), 2.8, rel_tol=1e-6)


def test_keys_older_than_max_age_leave():
    memory = PriorityMemory(size=8, dim=4, max_age=2)
    memory.update(unit(2), memory.draw(), None, step=0)
    memory.update(unit(2), memory.draw(), None, step=2)
    assert int(memory.valid.sum()) == 4
    memory.update(unit(1), memory.draw(), None, step=3)  # step 3 - 0 > 2: the first two expire
    assert int(memory.valid.sum()) == 3
    assert int(memory.birth_step[memory.valid].min()) == 2


def test_all_sampling_weights_are_the_expectation_of_proportional_sampling():
    torch.manual_seed(0)
    beta = 0.5
    memory = PriorityMemory(size=16, dim=4, sampling="all", priority_exponent=1.0,
                            importance_beta=beta, max_age=1000)
    memory.update(unit(16), memory.draw(), None, step=0)
    probabilities = torch.softmax(torch.randn(5, 16) * 2, dim=1)
    memory.update(torch.empty(0, 4), memory.draw(), probabilities, step=1)
    draw = memory.draw()
    share = memory.priorities / memory.priorities.sum()
    torch.testing.assert_close(draw.log_weights, (1 - beta) * torch.log(16 * share))

    sampler = PriorityMemory(size=16, dim=4, sampling="proportional", num_samples=4000,
                             priority_exponent=1.0, importance_beta=beta, max_age=1000)
    sampler.load_state_dict(memory.state_dict())
    sampled = sampler.draw()
    # Expected total weight per key: S·P(j) · (K/S)(K·P(j))^-beta = (K·P(j))^(1-beta)
    totals = torch.zeros(16).index_add_(0, sampled.slots, sampled.log_weights.exp())
    torch.testing.assert_close(totals, draw.log_weights.exp(), rtol=0.15, atol=0.05)


def test_state_round_trips_through_torch_save():
    memory = PriorityMemory(size=8, dim=4, max_age=50)
    memory.update(unit(5), memory.draw(), None, step=0)
    buffer = io.BytesIO()
    torch.save(memory.state_dict(), buffer)
    buffer.seek(0)
    restored = PriorityMemory(size=8, dim=4, max_age=50)
    restored.load_state_dict(torch.load(buffer))
    for name, tensor in memory.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[name], tensor)
