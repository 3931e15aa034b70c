"""Task metrics against values computed by hand or by brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.eval.metrics import (
    aupro,
    best_f1_threshold,
    binned_roc_auc,
    classification_metrics,
    f1_at,
    roc_auc,
)


def brute_force_auroc(scores, labels) -> float:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_auroc_is_the_chance_a_positive_outscores_a_negative_ties_half():
    scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2]
    labels = [0, 0, 1, 1, 1, 0, 0]
    expected = brute_force_auroc(scores, labels)  # hand: 7.5 wins of 12 pairs
    assert expected == pytest.approx(7.5 / 12)
    assert roc_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(expected)
    assert binned_roc_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(
        expected, abs=1e-3)


def test_binned_auroc_matches_the_exact_one_on_many_values():
    generator = torch.Generator().manual_seed(0)
    labels = torch.rand(200_000, generator=generator) < 0.05
    scores = torch.randn(200_000, generator=generator) + labels.float()
    assert binned_roc_auc(scores, labels) == pytest.approx(roc_auc(scores, labels), abs=1e-3)


def test_best_f1_threshold():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = torch.tensor([1, 0, 1, 0, 0])
    threshold, f1 = best_f1_threshold(scores, labels)
    # calling the top three positive: precision 2/3, recall 1 -> F1 0.8 (top one: 0.667)
    assert threshold == pytest.approx(0.7) and f1 == pytest.approx(0.8)
    assert f1_at(scores, labels, threshold)["f1"] == pytest.approx(0.8)


def test_classification_metrics_by_hand():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    predictions = torch.tensor([0, 0, 0, 1, 1, 0, 2])
    report = classification_metrics(predictions, labels, ["good", "scratch", "pit"])
    assert report["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert report["top1"] == pytest.approx(5 / 7)
    assert report["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert report["per_class"]["good"]["precision"] == pytest.approx(3 / 4)
    assert report["per_class"]["scratch"]["f1"] == pytest.approx(0.5)
    assert report["macro_f1"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert report["majority_class_baseline"] == {"top1": pytest.approx(4 / 7),
                                                 "balanced_accuracy": pytest.approx(1 / 3)}
    assert "warning" not in report


def test_a_model_that_calls_everything_good_is_warned_about():
    labels = torch.tensor([0] * 18 + [1] * 7)  # 72% good parts
    report = classification_metrics(torch.zeros(25, dtype=torch.long), labels,
                                    ["good", "pit"])
    assert report["top1"] == pytest.approx(0.72) and report["balanced_accuracy"] == 0.5
    assert report["warning"].startswith("the model calls every image good")


def test_aupro_weighs_each_region_once():
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = True  # a small region: 4 pixels
    mask[5:10, 5:10] = True  # a large one: 25 pixels
    perfect = mask.astype(float)
    assert aupro([perfect], [mask]) == pytest.approx(1.0, abs=0.02)
    only_large = np.zeros((10, 10))
    only_large[5:10, 5:10] = 1.0
    # the large region is found at any threshold, the small one never: half the overlap
    assert aupro([only_large], [mask]) == pytest.approx(0.5, abs=0.05)
