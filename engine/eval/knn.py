"""Weighted k-nearest-neighbour classification of frozen features (Wu et al. 2018).

Each test feature votes with its k most cosine-similar training features, a neighbour at
similarity s weighing exp(s / T). Reported: top-1, balanced accuracy (mean per-class recall:
defect data is imbalanced, and top-1 alone rewards calling every part good) and per-class
recall.
"""

from __future__ import annotations

import torch


def weighted_knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """L2-normalized train [Ntr, D] with labels [Ntr], test [Nte, D] -> predicted labels [Nte]."""
    k = min(k, train_features.shape[0])
    predictions = []
    for start in range(0, test_features.shape[0], chunk_size):
        similarity = test_features[start : start + chunk_size] @ train_features.T  # [n, Ntr]
        top_similarity, top_index = similarity.topk(k, dim=1)
        weights = (top_similarity / temperature).exp()  # [n, k]
        votes = torch.zeros(similarity.shape[0], num_classes, device=similarity.device)
        votes.scatter_add_(1, train_labels[top_index], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def classification_report(
    predictions: torch.Tensor, labels: torch.Tensor, class_names: list[str]
) -> dict[str, object]:
    """top1, balanced_accuracy (mean recall over classes present) and per_class_recall."""
    recalls: dict[str, float] = {}
    for label, name in enumerate(class_names):
        members = labels == label
        if members.any():
            recalls[name] = float((predictions[members] == label).float().mean())
    return {
        "top1": float((predictions == labels).float().mean()),
        "balanced_accuracy": sum(recalls.values()) / max(1, len(recalls)),
        "per_class_recall": recalls,
    }


def knn_report(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    class_names: list[str],
    ks: tuple[int, ...] = (20, 200),
    temperature: float = 0.07,
) -> dict[str, dict[str, object]]:
    """{"k=20": report, "k=200": report} for the given feature sets."""
    return {
        f"k={k}": classification_report(
            weighted_knn_predict(train_features, train_labels, test_features,
                                 len(class_names), k, temperature),
            test_labels,
            class_names,
        )
        for k in ks
    }
