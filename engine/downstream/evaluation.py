"""What a person looks at to judge a defect model, written beside it as ``evaluation.json``:
the confusion matrix, ROC and precision-recall curves, and each validation image with its
true and predicted label (the wrong ones first, each with a picture: its heat map for an
anomaly model, a small copy of it for a classifier).

    out/evaluation.json
      {"format": "hatchery.evaluation/1", "task": "anomaly", "class_names": ["good", "defect"],
       "threshold": 0.41, "confusion_matrix": [[9, 1], [0, 2]],
       "curves": [{"label": "defect", "auc": 0.97, "average_precision": 0.9,
                   "roc": [{"x": fpr, "y": tpr}, ...], "pr": [{"x": recall, "y": precision}]}],
       "images_total": 12, "images": [{"path": "defect/012.jpg", "true": "defect",
                                       "predicted": "good", "score": 0.38,
                                       "picture": "heatmaps/012.png"}, ...]}

The file stays small: curves keep at most ``MAX_CURVE_POINTS`` points and the images list
at most ``MAX_IMAGES`` entries (every misclassified image first). ``picture`` is a path
relative to the model directory, or null.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

EVALUATION_FILE = "evaluation.json"
EVALUATION_FORMAT = "hatchery.evaluation/1"
MAX_CURVE_POINTS = 101
MAX_IMAGES = 200
MAX_PICTURES = 24  # misclassified images given a picture of their own
EXAMPLE_SIDE = 160  # px: the longer side of a classifier's example picture


@dataclass
class ImageResult:
    """One validation image: where it lies (relative to its folder), what it is, what the
    model said, how sure (anomaly: the image score; classify: the predicted class's
    probability) and its picture (relative to the model directory), if any."""

    path: str
    true: str
    predicted: str
    score: float
    picture: str | None = None

    @property
    def wrong(self) -> bool:
        return self.true != self.predicted


def _thinned(xs: np.ndarray, ys: np.ndarray) -> list[dict[str, float]]:
    """The curve as at most ``MAX_CURVE_POINTS`` {x, y} points, its ends kept."""
    keep = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), MAX_CURVE_POINTS)).round()
                     .astype(int))
    return [{"x": round(float(xs[i]), 5), "y": round(float(ys[i]), 5)} for i in keep]


def binary_curves(scores: np.ndarray, positive: np.ndarray, label: str
                  ) -> dict[str, Any] | None:
    """ROC (false-positive rate -> true-positive rate) and precision-recall curves of
    calling ``score >= t`` positive, over every distinct threshold t; with their areas
    (AUROC, average precision). None when one side has no example."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], positive[order]
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = np.cumsum(hits)[last_of_tie]
    false_positives = np.cumsum(~hits)[last_of_tie]
    tpr = np.r_[0.0, true_positives / positives]
    fpr = np.r_[0.0, false_positives / negatives]
    recall = true_positives / positives
    precision = true_positives / (true_positives + false_positives)
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {"label": label, "auc": round(float(np.trapezoid(tpr, fpr)), 5),
            "average_precision": round(average_precision, 5),
            "roc": _thinned(fpr, tpr),
            "pr": _thinned(np.r_[0.0, recall], np.r_[1.0, precision])}


def confusion(results: list[ImageResult], class_names: list[str]) -> list[list[int]]:
    """[K, K] counts: row = true class, column = predicted class (``class_names`` order)."""
    index = {name: at for at, name in enumerate(class_names)}
    matrix = [[0] * len(class_names) for _ in class_names]
    for result in results:
        if result.true in index and result.predicted in index:
            matrix[index[result.true]][index[result.predicted]] += 1
    return matrix


def kept_images(results: list[ImageResult]) -> list[ImageResult]:
    """The misclassified images (the most confidently wrong first), then the right ones,
    at most ``MAX_IMAGES``."""
    wrong = sorted((r for r in results if r.wrong), key=lambda r: -r.score)
    right = [r for r in results if not r.wrong]
    return (wrong + right)[:MAX_IMAGES]


def save_example(image: torch.Tensor, path: Path) -> Path:
    """A small PNG of a uint8 [C, H, W] image (longer side ``EXAMPLE_SIDE``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = image.cpu().numpy()
    picture = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
    shown = Image.fromarray(picture.astype(np.uint8))
    shown.thumbnail((EXAMPLE_SIDE, EXAMPLE_SIDE))
    shown.save(path)
    return path


def write_evaluation(out: str | Path, task: str, class_names: list[str],
                     results: list[ImageResult], curves: list[dict[str, Any]],
                     threshold: float | None = None) -> Path:
    """``out/evaluation.json`` (see the module docstring); returns its path."""
    document = {"format": EVALUATION_FORMAT, "task": task, "class_names": class_names,
                "threshold": threshold,
                "confusion_matrix": confusion(results, class_names),
                "curves": curves, "images_total": len(results),
                "images": [asdict(result) | {"score": round(result.score, 5)}
                           for result in kept_images(results)]}
    path = Path(out) / EVALUATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def one_vs_rest_curves(probabilities: np.ndarray, labels: np.ndarray,
                       class_names: list[str]) -> list[dict[str, Any]]:
    """Per class, its curves of ``probabilities[:, k]`` against "is class k" (classes with
    no validation image, or only those, left out)."""
    curves = []
    for index, name in enumerate(class_names):
        curve = binary_curves(probabilities[:, index], labels == index, name)
        if curve is not None:
            curves.append(curve)
    return curves
