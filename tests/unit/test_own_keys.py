"""A query meets no memory key of its own image (or part) as a negative: the memories keep
each key's owner, the draw masks them per query, MoBY passes the owners through both
direction modes, and checkpoints from before owners still load."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.ssl.heads import Encoder
from engine.ssl.memory import EMPTY_SLOT_LOG_WEIGHT, FifoQueue, NegativeDraw, PriorityMemory
from engine.ssl.moby import MoBY
from engine.ssl.momentum import MomentumSchedule

DIM, BATCH = 6, 8


def unit(rows: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, DIM), dim=1)


def test_the_draw_masks_each_querys_own_keys_only():
    draw = NegativeDraw(unit(4), torch.tensor([0.0, -1.0, 0.5, 0.0]),
                        owners=torch.tensor([3, 7, 3, -1]))
    weights = draw.log_weights_for(torch.tensor([3, 7, 9]))
    assert weights.shape == (3, 4)
    torch.testing.assert_close(weights[0], torch.tensor([EMPTY_SLOT_LOG_WEIGHT, -1.0,
                                                         EMPTY_SLOT_LOG_WEIGHT, 0.0]))
    torch.testing.assert_close(weights[1], torch.tensor([0.0, EMPTY_SLOT_LOG_WEIGHT, 0.5, 0.0]))
    torch.testing.assert_close(weights[2], draw.log_weights)  # owner 9 has no key here
    assert draw.log_weights_for(None) is draw.log_weights
    unweighted = NegativeDraw(unit(2), owners=torch.tensor([1, 2]))
    assert unweighted.log_weights_for(torch.tensor([2])).tolist() == [[0.0,
                                                                        EMPTY_SLOT_LOG_WEIGHT]]


@pytest.mark.parametrize("memory", [FifoQueue(4, DIM), PriorityMemory(4, DIM),
                                    PriorityMemory(4, DIM, sampling="proportional",
                                                   num_samples=16)])
def test_memories_remember_whose_each_key_is(memory):
    memory.update(unit(2), memory.draw(), None, step=0, owners=torch.tensor([5, 6]))
    memory.update(unit(1), memory.draw(), None, step=1)  # owner unknown
    assert sorted(memory.owners.tolist()) == [-1, -1, 5, 6]
    draw = memory.draw()
    keys = memory.keys if draw.slots is None else memory.keys[draw.slots]
    assert torch.equal(draw.keys, keys)
    owners = memory.owners if draw.slots is None else memory.owners[draw.slots]
    assert torch.equal(draw.owners, owners)


def test_a_checkpoint_from_before_owners_loads_with_owners_unknown():
    old = PriorityMemory(4, DIM)
    old.update(unit(2), old.draw(), None, step=0, owners=torch.tensor([1, 2]))
    state = {name: value for name, value in old.state_dict().items() if name != "owners"}
    new = PriorityMemory(4, DIM)
    new.load_state_dict(state)
    assert new.owners.tolist() == [-1] * 4 and torch.equal(new.keys, old.keys)


class LinearEncoder(Encoder):
    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.Linear(3 * 2 * 2, DIM))


@pytest.mark.parametrize("symmetric", [True, False])
def test_moby_puts_no_mass_on_a_querys_own_keys_and_stores_owners_in_key_order(symmetric):
    torch.manual_seed(0)
    moby = MoBY(LinearEncoder(), LinearEncoder(), nn.Identity(), FifoQueue(16, DIM),
                FifoQueue(16, DIM), temperature=0.2, momentum=MomentumSchedule(0.99, 10),
                symmetric=symmetric)
    owners = torch.arange(BATCH) + 100
    view1, view2 = torch.randn(BATCH, 3, 2, 2), torch.randn(BATCH, 3, 2, 2)
    moby(view1, view2, owners=owners)
    moby.after_optimizer_step(0)
    half = BATCH // 2
    # memory 1 holds the keys of view 1: all images both ways, the second half one way
    expected1 = owners if symmetric else owners[half:]
    expected2 = owners if symmetric else owners[:half]
    assert moby.memory1.owners[:len(expected1)].tolist() == expected1.tolist()
    assert moby.memory2.owners[:len(expected2)].tolist() == expected2.tolist()

    moby(view1, view2, owners=owners)  # the same images again: their keys are in memory
    for _, _, draw, probabilities, query_owners in moby._pending:
        # a memory's draw answered the queries whose keys it receives: the same owners
        own = query_owners[:, None] == draw.owners[None, :]
        assert own.sum() == len(query_owners)  # each query's one stale key
        assert probabilities[own].max() < 1e-6 and probabilities[~own].sum() > 0.5

    unmasked = MoBY(LinearEncoder(), LinearEncoder(), nn.Identity(), FifoQueue(16, DIM),
                    FifoQueue(16, DIM), temperature=0.2, momentum=MomentumSchedule(0.99, 10),
                    symmetric=symmetric)
    unmasked.load_state_dict(moby.state_dict())
    unmasked(view1, view2)  # without owners a query's own stale key is a negative too
    for (_, _, draw, probabilities, _), (_, _, _, _, query_owners) in zip(
            unmasked._pending, moby._pending, strict=True):
        own = query_owners[:, None] == draw.owners[None, :]
        assert probabilities[own].min() > 1e-4
