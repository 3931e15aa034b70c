"""The evaluation a person reads beside a model: curves from scores, the confusion matrix,
and a short list of images with the misclassified ones first."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.downstream.evaluation import (
    MAX_CURVE_POINTS,
    MAX_IMAGES,
    ImageResult,
    binary_curves,
    confusion,
    one_vs_rest_curves,
    write_evaluation,
)
from engine.eval.metrics import roc_auc


def test_curves_of_a_perfect_and_a_mixed_ranking():
    perfect = binary_curves(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]), "defect")
    assert perfect["auc"] == 1.0 and perfect["average_precision"] == 1.0
    assert perfect["roc"][0] == {"x": 0.0, "y": 0.0} and perfect["roc"][-1] == {"x": 1.0,
                                                                               "y": 1.0}
    rng = np.random.default_rng(0)
    scores, labels = rng.random(500), rng.random(500) < 0.3
    mixed = binary_curves(scores, labels, "defect")
    assert mixed["auc"] == pytest.approx(roc_auc(torch.tensor(scores), torch.tensor(labels)),
                                         abs=1e-4)
    assert len(mixed["roc"]) <= MAX_CURVE_POINTS and len(mixed["pr"]) <= MAX_CURVE_POINTS
    assert binary_curves(np.array([0.1, 0.2]), np.array([0, 0]), "defect") is None


def test_ties_make_one_point_and_one_vs_rest_skips_absent_classes():
    tied = binary_curves(np.array([0.5, 0.5, 0.5]), np.array([1, 0, 0]), "x")
    assert tied["roc"] == [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}] and tied["auc"] == 0.5
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    curves = one_vs_rest_curves(probabilities, np.array([0, 1, 1]), ["a", "b", "c"])
    assert [curve["label"] for curve in curves] == ["a", "b"]


def test_the_file_keeps_the_wrong_images_first_and_stays_small(tmp_path):
    results = [ImageResult(f"{i}.png", "good", "good", i / 1000) for i in range(400)]
    results += [ImageResult("w1.png", "defect", "good", 0.3),
                ImageResult("w2.png", "good", "defect", 0.9, "heatmaps/w2.png")]
    assert confusion(results, ["good", "defect"]) == [[400, 1], [1, 0]]
    path = write_evaluation(tmp_path, "anomaly", ["good", "defect"], results, [], 0.5)
    document = json.loads(path.read_text())
    assert document["images_total"] == 402 and len(document["images"]) == MAX_IMAGES
    assert [image["path"] for image in document["images"][:2]] == ["w2.png", "w1.png"]
    assert document["images"][0]["picture"] == "heatmaps/w2.png"
    assert document["threshold"] == 0.5 and document["format"] == "hatchery.evaluation/1"
