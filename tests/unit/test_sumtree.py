"""Sum-tree: sums stay exact under batched updates, sampling follows priorities, state saves."""

from __future__ import annotations

import io

import pytest
import torch
from scipy.stats import chisquare

from engine.ssl.sumtree import SumTree


def internal_nodes_are_sums(tree: SumTree) -> bool:
    nodes = torch.arange(1, tree.num_leaves)
    return torch.allclose(tree.tree[nodes], tree.tree[2 * nodes] + tree.tree[2 * nodes + 1])


def test_root_is_the_sum_of_leaves_after_random_batched_updates():
    generator = torch.Generator().manual_seed(0)
    tree = SumTree(1000)
    for _ in range(50):
        indices = torch.randint(0, 1000, (64,), generator=generator)  # with repeats
        tree.update(indices, torch.rand(64, generator=generator, dtype=torch.float64) * 5)
    torch.testing.assert_close(tree.total, tree.priorities().sum())
    assert internal_nodes_are_sums(tree)
    assert tree.num_leaves == 1024 and float(tree.tree[1024 + 1000 :].abs().sum()) == 0


def test_sampling_frequencies_match_priorities():
    generator = torch.Generator().manual_seed(1)
    priorities = torch.rand(64, generator=generator, dtype=torch.float64)
    priorities[::7] = 0.0
    tree = SumTree(64)
    tree.update(torch.arange(64), priorities)
    draws = torch.cat([tree.sample(4096, generator) for _ in range(50)])
    counts = torch.bincount(draws, minlength=64).double()
    assert counts[priorities == 0].sum() == 0
    nonzero = priorities > 0
    expected = priorities[nonzero] / priorities.sum() * draws.numel()
    assert chisquare(counts[nonzero].numpy(), expected.numpy()).pvalue > 1e-3


def test_padding_and_zero_leaves_are_never_drawn():
    tree = SumTree(5)  # 8 leaves, 3 of them padding
    tree.update(torch.tensor([0, 4]), torch.tensor([1e-12, 3.0]))
    draws = tree.sample(10_000, torch.Generator().manual_seed(2))
    assert set(draws.tolist()) <= {0, 4}


def test_large_batched_update_keeps_structure():
    tree = SumTree(65536)
    generator = torch.Generator().manual_seed(3)
    tree.update(torch.randperm(65536, generator=generator)[:4096],
                torch.rand(4096, generator=generator))
    assert internal_nodes_are_sums(tree)
    assert tree.depth == 16


def test_rebuild_matches_incremental_updates():
    tree = SumTree(300)
    tree.update(torch.arange(300), torch.rand(300, dtype=torch.float64))
    before = tree.tree.clone()
    tree.tree[1:tree.num_leaves] = 0
    tree.rebuild()
    torch.testing.assert_close(tree.tree, before)


def test_state_round_trip_gives_identical_draws():
    tree = SumTree(100)
    tree.update(torch.arange(100), torch.rand(100))
    buffer = io.BytesIO()
    torch.save(tree.state_dict(), buffer)
    buffer.seek(0)
    restored = SumTree(100)
    restored.load_state_dict(torch.load(buffer))
    first = tree.sample(256, torch.Generator().manual_seed(4))
    second = restored.sample(256, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)


def test_empty_tree_refuses_to_sample():
    with pytest.raises(ValueError, match="all zero"):
        SumTree(8).sample(4)
