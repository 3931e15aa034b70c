"""Task metrics every model the platform trains is scored with, on plain tensors.

Classification: balanced accuracy (mean per-class recall: defect data is imbalanced, and
top-1 alone rewards calling every part good), per-class precision and recall, macro-F1 and
the confusion matrix. Anomaly detection: image AUROC, pixel AUROC, AUPRO (per-region overlap
up to a false-positive rate of 0.3, Bergmann et al. 2021) and the F1-optimal threshold.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int
                     ) -> torch.Tensor:
    """int64 [K, K]: row = true class, column = predicted class."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes,
                                                                          num_classes)


def classification_metrics(predictions: torch.Tensor, labels: torch.Tensor,
                           class_names: list[str]) -> dict[str, object]:
    """Predicted and true class indices [N] -> top1, balanced_accuracy (over the classes
    present), macro_f1, per_class {name: {precision, recall, f1, support}} and
    confusion_matrix (rows true, columns predicted)."""
    matrix = confusion_matrix(predictions, labels, len(class_names)).double()
    true_counts, predicted_counts, hits = matrix.sum(1), matrix.sum(0), matrix.diag()
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(class_names):
        if true_counts[index] == 0:
            continue
        recall = float(hits[index] / true_counts[index])
        precision = float(hits[index] / predicted_counts[index]) if predicted_counts[index] \
            else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": int(true_counts[index])}
    count = max(1, len(per_class))
    total = max(1.0, float(matrix.sum()))
    report: dict[str, object] = {
        "top1": float(hits.sum() / total),
        "balanced_accuracy": sum(c["recall"] for c in per_class.values()) / count,
        "macro_f1": sum(c["f1"] for c in per_class.values()) / count,
        "per_class": per_class,
        "confusion_matrix": matrix.long().tolist(),
        # calling every image the most common class: what top-1 alone would reward
        "majority_class_baseline": {"top1": float(true_counts.max() / total),
                                    "balanced_accuracy": 1 / count},
    }
    called = torch.nonzero(predicted_counts).flatten()
    if len(called) == 1 and len(per_class) > 1:
        report["warning"] = (f"the model calls every image {class_names[int(called[0])]}: "
                             "it has learned nothing that tells the classes apart")
    return report


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` [N] for binary ``labels`` [N] (1 = positive):
    the probability that a random positive scores above a random negative, ties half."""
    scores, labels = scores.double().flatten(), labels.bool().flatten()
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("AUROC needs positive and negative examples")
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``values``, ties sharing their mean rank."""
    order = torch.argsort(values)
    sorted_values = values[order]
    _, inverse, counts = torch.unique_consecutive(sorted_values, return_inverse=True,
                                                  return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(values, dtype=torch.double)
    ranks[order] = mean_rank[inverse]
    return ranks


def binned_roc_auc(scores: torch.Tensor, labels: torch.Tensor, bins: int = 4096) -> float:
    """``roc_auc`` of very many values (every pixel of a test set) from histograms over
    ``bins`` score levels: memory linear in the bins, error below 1/bins."""
    scores, labels = scores.float().flatten(), labels.bool().flatten()
    low, high = float(scores.min()), float(scores.max())
    if high <= low:
        return 0.5
    index = ((scores - low) / (high - low) * (bins - 1)).long()
    positives = torch.bincount(index[labels], minlength=bins).double()
    negatives = torch.bincount(index[~labels], minlength=bins).double()
    if positives.sum() == 0 or negatives.sum() == 0:
        raise ValueError("AUROC needs positive and negative examples")
    negatives_below = torch.cumsum(negatives, 0) - negatives
    pairs = (positives * (negatives_below + negatives / 2)).sum()
    return float(pairs / (positives.sum() * negatives.sum()))


def best_f1_threshold(scores: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(threshold, F1) where calling ``score >= threshold`` positive maximizes F1."""
    scores, labels = scores.double().flatten(), labels.bool().flatten()
    order = torch.argsort(scores, descending=True)
    sorted_scores, sorted_labels = scores[order], labels[order].double()
    true_positives = torch.cumsum(sorted_labels, 0)
    called = torch.arange(1, len(scores) + 1, dtype=torch.double)
    f1 = 2 * true_positives / (called + sorted_labels.sum())
    # only where the next score differs: a threshold cannot split equal scores
    distinct = torch.ones_like(f1, dtype=torch.bool)
    distinct[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    f1 = torch.where(distinct, f1, torch.zeros_like(f1))
    best = int(torch.argmax(f1))
    return float(sorted_scores[best]), float(f1[best])


def f1_at(scores: torch.Tensor, labels: torch.Tensor, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of calling ``score >= threshold`` positive."""
    called, labels = scores.flatten() >= threshold, labels.bool().flatten()
    hits = int((called & labels).sum())
    precision = hits / max(1, int(called.sum()))
    recall = hits / max(1, int(labels.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def aupro(maps: list[np.ndarray], masks: list[np.ndarray], max_fpr: float = 0.3,
          steps: int = 200) -> float:
    """Area under the per-region-overlap curve up to ``max_fpr``, normalized to [0, 1].

    ``maps``: anomaly maps [H, W] (float), ``masks``: ground truth [H, W] (bool), one pair
    per image. Each connected defect region counts once however large it is, so a model
    that finds the big scratch but misses the small pit scores lower than pixel AUROC says.
    """
    regions = []
    for mask in masks:
        labeled, count = ndimage.label(mask)
        regions.append((labeled, count))
    if sum(count for _, count in regions) == 0:
        raise ValueError("AUPRO needs at least one defect region")
    all_scores = np.concatenate([m.ravel() for m in maps])
    good = np.concatenate([~mask.ravel() for mask in masks])
    good_scores = np.sort(all_scores[good])
    # a pixel is called defective above a threshold; the thresholds are spaced by the
    # false-positive rate (the share of good pixels above them) they allow
    fprs = np.linspace(0, max_fpr, steps + 1)[1:]
    thresholds = np.quantile(good_scores, 1 - fprs)
    overlaps = np.zeros(len(thresholds))
    total_regions = 0
    for anomaly_map, (labeled, count) in zip(maps, regions, strict=True):
        if count == 0:
            continue
        sizes = np.bincount(labeled.ravel(), minlength=count + 1)[1:]
        for index, threshold in enumerate(thresholds):
            hit = np.bincount(labeled.ravel(), weights=(anomaly_map.ravel() > threshold),
                              minlength=count + 1)[1:]
            overlaps[index] += float((hit / sizes).sum())
        total_regions += count
    pro = overlaps / total_regions
    curve_fprs = np.concatenate([[0.0], fprs])
    curve_pro = np.concatenate([[0.0], pro])
    return float(np.trapezoid(curve_pro, curve_fprs) / max_fpr)
