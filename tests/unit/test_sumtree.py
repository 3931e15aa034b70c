"""Sum-tree: sums stay exact under batched updates, sampling follows priorities, state saves."""

from __future__ import annotations

import io

import pytest
import torch
from scipy.stats import chisquare
from torch.overrides import TorchFunctionMode

from engine.ssl.sumtree import SumTree


def assert_consistent(tree: SumTree) -> None:
    """Every internal node is exactly its children's sum; the root is the leaves' sum."""
    nodes = torch.arange(1, tree.num_leaves)
    assert torch.equal(tree.tree[nodes], tree.tree[2 * nodes] + tree.tree[2 * nodes + 1])
    torch.testing.assert_close(tree.total, tree.priorities().sum())
    assert float(tree.tree[tree.num_leaves + tree.capacity :].abs().sum()) == 0  # padding
    assert float(tree.tree[0]) == 0


class CountCalls(TorchFunctionMode):
    """Counts torch calls: a loop over keys or over the batch would scale with B."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def test_root_is_the_sum_of_leaves_after_random_batched_updates():
    generator = torch.Generator().manual_seed(0)
    tree = SumTree(1000)
    reference = torch.zeros(1000, dtype=torch.float64)
    for _ in range(200):
        indices = torch.randint(0, 1000, (64,), generator=generator)  # with repeats
        values = torch.rand(64, generator=generator, dtype=torch.float64) * 5
        values[values < 0.5] = 0.0
        tree.update(indices, values)
        for i, v in zip(indices.tolist(), values.tolist(), strict=True):  # last write wins
            reference[i] = v
    assert torch.equal(tree.priorities(), reference)
    assert tree.num_leaves == 1024 and tree.depth == 10
    assert_consistent(tree)


def test_repeated_indices_last_write_wins():
    tree = SumTree(8)
    tree.update(torch.tensor([3, 5, 3, 3, 5]), torch.tensor([1.0, 2.0, 7.0, 9.0, 4.0]))
    assert tree.priorities().tolist() == [0, 0, 0, 9.0, 0, 4.0, 0, 0]
    assert float(tree.total) == 13.0
    assert_consistent(tree)


def test_incremental_updates_equal_a_full_rebuild_bitwise():
    generator = torch.Generator().manual_seed(5)
    tree = SumTree(300)
    for _ in range(20):
        tree.update(torch.randint(0, 300, (50,), generator=generator),
                    torch.rand(50, generator=generator) * 1e3)
    incremental = tree.tree.clone()
    tree.tree[1 : tree.num_leaves] = 0
    tree.rebuild()
    assert torch.equal(tree.tree, incremental)
    assert tree.levels == tree.depth


def random_priorities(seed: int, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    priorities = torch.rand(size, generator=generator, dtype=torch.float64)
    priorities[::7] = 0.0
    return priorities


def test_sampling_frequencies_match_priorities():
    priorities = random_priorities(1)
    tree = SumTree(64)
    tree.update(torch.arange(64), priorities)
    generator = torch.Generator().manual_seed(1)
    draws = torch.cat([tree.sample(1000, generator) for _ in range(200)])  # 200k draws
    counts = torch.bincount(draws, minlength=64).double()
    assert counts[priorities == 0].sum() == 0
    nonzero = priorities > 0
    expected = priorities[nonzero] / priorities.sum() * draws.numel()
    assert chisquare(counts[nonzero].numpy(), expected.numpy()).pvalue > 1e-3


def test_descent_of_independent_points_follows_priorities():
    # Stratified counts are under-dispersed, which makes the chi-square above lenient; the
    # descent alone, fed 200k independent uniforms, gets a chi-square test with full power.
    priorities = random_priorities(10)
    tree = SumTree(64)
    tree.update(torch.arange(64), priorities)
    generator = torch.Generator().manual_seed(11)
    points = torch.rand(200_000, generator=generator, dtype=torch.float64) * tree.total
    counts = torch.bincount(tree._descend(points), minlength=64).double()
    assert counts[priorities == 0].sum() == 0
    nonzero = priorities > 0
    expected = priorities[nonzero] / priorities.sum() * points.numel()
    assert chisquare(counts[nonzero].numpy(), expected.numpy()).pvalue > 1e-3
    signs = 1.0 - 2.0 * (torch.arange(expected.numel()) % 2)
    wrong = expected * (1 + 0.05 * signs)  # 5% off, alternately up and down: caught
    wrong *= expected.sum() / wrong.sum()
    assert chisquare(counts[nonzero].numpy(), wrong.numpy()).pvalue < 1e-3


def test_stratified_counts_are_within_two_of_expected():
    # Leaf i covers an interval of length p_i; with one point per segment of width total/S it
    # receives S * p_i / total points, give or take the two partly covered edge segments.
    priorities = random_priorities(12, size=1000)
    tree = SumTree(1000)
    tree.update(torch.arange(1000), priorities)
    generator = torch.Generator().manual_seed(13)
    for num in (1000, 12_345, 100_000):
        counts = torch.bincount(tree.sample(num, generator), minlength=1000).double()
        expected = priorities / priorities.sum() * num
        assert float((counts - expected).abs().max()) <= 2.0 + 1e-6


def test_sampling_is_stratified():
    tree = SumTree(64)
    tree.update(torch.arange(64), torch.ones(()))  # scalar broadcast to every index
    # 64 equal segments over 64 equal leaves: segment i can only land on leaf i.
    assert torch.equal(tree.sample(64, torch.Generator().manual_seed(0)), torch.arange(64))


def test_non_power_of_two_capacity_never_samples_padding():
    tree = SumTree(1000)
    tree.update(torch.arange(1000), torch.rand(1000, dtype=torch.float64) + 0.1)
    draws = tree.sample(100_000, torch.Generator().manual_seed(6))
    assert draws.dtype == torch.long and draws.shape == (100_000,)
    assert int(draws.min()) >= 0 and int(draws.max()) < 1000
    assert torch.bincount(draws, minlength=1000).gt(0).all()  # and every real slot appears


def test_zero_and_padding_leaves_are_never_drawn():
    tree = SumTree(5)  # 8 leaves, 3 of them padding
    tree.update(torch.tensor([0, 4]), torch.tensor([1e-300, 3.0]))
    draws = tree.sample(10_000, torch.Generator().manual_seed(2))
    assert set(draws.tolist()) <= {0, 4}


def test_descent_survives_points_on_edges_and_past_the_total():
    tree = SumTree(6)  # leaves 1.0, 0, 0, 2.0, 0, 0 and 2 padding leaves
    tree.update(torch.tensor([0, 3]), torch.tensor([1.0, 2.0]))
    total = float(tree.total)
    points = torch.tensor([0.0, 1.0, 1.0 - 1e-16, 2.999999, total, total * (1 + 1e-12), 1e300],
                          dtype=torch.float64)
    leaves = tree._descend(points)
    assert leaves.tolist() == [0, 3, 0, 3, 3, 3, 3]


def test_rounding_never_reaches_zero_leaves():
    # Priorities whose sums round: leaves after the last positive one must still never appear.
    generator = torch.Generator().manual_seed(7)
    for capacity in (3, 17, 100, 257):
        tree = SumTree(capacity)
        values = torch.rand(capacity, generator=generator, dtype=torch.float64) * 0.1 + 0.1
        values[torch.rand(capacity, generator=generator) < 0.5] = 0.0
        values[0] = 0.3
        tree.update(torch.arange(capacity), values)
        draws = tree.sample(20_000, generator)
        assert bool((values[draws] > 0).all())


def test_large_batched_update_is_vectorized_and_correct():
    tree = SumTree(65536)
    generator = torch.Generator().manual_seed(3)
    indices = torch.randint(0, 65536, (4096,), generator=generator)  # with repeats
    values = torch.rand(4096, generator=generator)
    with CountCalls() as big:
        tree.update(indices, values)
    assert tree.depth == 16 and tree.levels == 16  # one Python iteration per level
    assert_consistent(tree)
    few_indices, few_values = indices[:8], values[:8]
    with CountCalls() as small:
        tree.update(few_indices, few_values)
    assert big.calls == small.calls  # same number of torch calls whatever B is
    assert big.calls < 10 * tree.depth + 50
    with CountCalls() as sampled:
        tree.sample(4096)
    assert sampled.calls < 10 * tree.depth + 50 and tree.levels == 16


def test_state_round_trip_gives_identical_draws():
    tree = SumTree(100)
    tree.update(torch.arange(100), torch.rand(100))
    assert list(tree.state_dict()) == ["tree"]
    buffer = io.BytesIO()
    torch.save(tree.state_dict(), buffer)
    buffer.seek(0)
    restored = SumTree(100)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(restored.tree, tree.tree) and restored.tree.dtype == torch.float64
    first = tree.sample(256, torch.Generator().manual_seed(4))
    second = restored.sample(256, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)


def test_loading_a_larger_tree_is_refused():
    larger = SumTree(1024)
    larger.update(torch.tensor([1010]), torch.tensor([1.0]))  # same L as capacity 1000
    with pytest.raises(ValueError, match="beyond capacity"):
        SumTree(1000).load_state_dict(larger.state_dict())
    with pytest.raises(RuntimeError, match="size mismatch"):
        SumTree(2000).load_state_dict(larger.state_dict())


def test_casting_the_module_keeps_float64():
    tree = SumTree(10)
    tree.update(torch.arange(10), torch.full((10,), 0.1, dtype=torch.float64))
    before = tree.tree.clone()
    tree.half()
    tree.to(torch.float32)
    assert tree.tree.dtype == torch.float64 and torch.equal(tree.tree, before)
    assert "tree" in dict(tree.named_buffers())


def test_queries():
    tree = SumTree(4)
    tree.update(torch.tensor([0, 1, 2]), torch.tensor([1.0, 3.0, 0.0]))
    torch.testing.assert_close(tree.probabilities(torch.tensor([1, 0, 3])),
                               torch.tensor([0.75, 0.25, 0.0], dtype=torch.float64))
    torch.testing.assert_close(tree.probabilities().sum(), torch.tensor(1.0, dtype=torch.float64))
    leaves = tree.priorities()
    leaves += 100  # a copy: the tree is untouched
    assert float(tree.total) == 4.0
    assert tree.sample(0).shape == (0,)


def test_invalid_inputs_are_refused():
    tree = SumTree(10)
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        tree.update(torch.tensor([10]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        tree.update(torch.tensor([-1]), torch.tensor([1.0]))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and non-negative"):
            tree.update(torch.tensor([0]), torch.tensor([bad]))
    with pytest.raises(TypeError):
        tree.update(torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(RuntimeError):
        tree.update(torch.tensor([0, 1]), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        SumTree(0)
    assert float(tree.total) == 0  # nothing was written


def test_empty_tree_refuses_to_sample():
    with pytest.raises(ValueError, match="all zero"):
        SumTree(8).sample(4)
    tree = SumTree(8)
    tree.update(torch.tensor([2]), torch.tensor([1.0]))
    tree.update(torch.tensor([2]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="all zero"):
        tree.sample(4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    generator = torch.Generator().manual_seed(8)
    indices = torch.randint(0, 5000, (4096,), generator=generator)
    values = torch.rand(4096, generator=generator)
    cpu, gpu = SumTree(5000), SumTree(5000).cuda()
    cpu.update(indices, values)
    gpu.update(indices.cuda(), values.cuda())
    assert gpu.tree.is_cuda and torch.equal(gpu.tree.cpu(), cpu.tree)
    first = cpu.sample(10_000, torch.Generator().manual_seed(9))
    second = gpu.sample(10_000, torch.Generator().manual_seed(9))  # CPU generator, CUDA tree
    assert second.is_cuda and torch.equal(first, second.cpu())
    gpu.sample(1000, torch.Generator(device="cuda").manual_seed(0))
