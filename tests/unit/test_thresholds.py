"""FixMatch's pseudo-label bars: one fixed bar, or FlexMatch's per-class bars computed by hand."""

from __future__ import annotations

import pytest
import torch

from engine.downstream.thresholds import PseudoLabelThresholds


def test_a_fixed_bar_keeps_exactly_the_pseudo_labels_at_or_above_it():
    bars = PseudoLabelThresholds("fixed", 0.9, unlabeled_count=4, num_classes=2,
                                 device=torch.device("cpu"))
    mask = bars.mask(torch.tensor([0.95, 0.9, 0.5, 0.89]), torch.tensor([0, 1, 0, 1]),
                     torch.arange(4))
    assert mask.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert bars.class_thresholds().tolist() == pytest.approx([0.9, 0.9])
    # what each image was confidently taken to be is recorded under a fixed bar too
    assert bars.latest.tolist() == [0, 1, -1, -1]
    assert bars.used_fraction == pytest.approx(0.5)
    bars.mask(torch.tensor([0.99, 0.1]), torch.tensor([1, 0]), torch.tensor([0, 1]))
    assert bars.latest.tolist() == [1, 1, -1, -1]  # the latest confident prediction counts
    assert bars.used_fraction == pytest.approx(3 / 6)


def test_flexible_bars_start_at_zero_and_lower_the_bar_of_the_class_learned_least():
    bars = PseudoLabelThresholds("flexible", 0.9, unlabeled_count=10, num_classes=3,
                                 device=torch.device("cpu"))
    # warm-up: nothing predicted yet, every class's bar is 0, so every pseudo-label counts
    assert bars.class_thresholds().tolist() == [0.0, 0.0, 0.0]
    first = bars.mask(torch.tensor([0.3, 0.95, 0.97, 0.99, 0.92]),
                      torch.tensor([2, 0, 0, 0, 1]), torch.tensor([0, 1, 2, 3, 4]))
    assert first.tolist() == [1.0] * 5
    # recorded: images 1-3 confidently class 0, image 4 class 1 (image 0 fell under 0.9)
    assert bars.latest.tolist() == [-1, 0, 0, 0, 1, -1, -1, -1, -1, -1]
    # counts 3, 1, 0 against 6 images still unpredicted: learned 0.5, 1/6, 0
    learned = torch.tensor([3 / 6, 1 / 6, 0.0])
    expected = 0.9 * learned / (2 - learned)
    assert bars.class_thresholds().tolist() == pytest.approx(expected.tolist())


def test_flexible_bars_reach_the_confidence_for_the_best_learned_class_after_warm_up():
    bars = PseudoLabelThresholds("flexible", 0.95, unlabeled_count=6, num_classes=2,
                                 device=torch.device("cpu"))
    bars.mask(torch.full((6,), 0.99), torch.tensor([0, 0, 0, 0, 1, 1]), torch.arange(6))
    # every image predicted: class 0 (4 images) is the most learned, class 1 half as much
    thresholds = bars.class_thresholds()
    assert thresholds[0].item() == pytest.approx(0.95)
    assert thresholds[1].item() == pytest.approx(0.95 * 0.5 / 1.5)
    # a class-1 pseudo-label at 0.5 passes its lowered bar; a class-0 one does not
    mask = bars.mask(torch.tensor([0.5, 0.5]), torch.tensor([1, 0]), torch.tensor([0, 1]))
    assert mask.tolist() == [1.0, 0.0]
    # unconfident predictions leave the record as it was
    assert bars.latest.tolist() == [0, 0, 0, 0, 1, 1]
