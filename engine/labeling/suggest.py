"""What to label next, and which labels to check: ranking in the backbone's embedding space.

A few labels teach most when they cover what the labels do not yet cover and settle what the
labeled neighbours disagree on. On L2-normalized embeddings [N, D]:

- **coverage** (k-center greedy, Sener & Savarese 2018): repeatedly take the unlabeled image
  farthest from every labeled or already suggested image, so each suggestion opens new ground
  and clusters no label touches are reached first;
- **uncertainty**: the margin between the two most voted classes of a weighted kNN over the
  labeled images (small margin: the neighbours disagree); a suggestion's distance counts
  double when its neighbours fully disagree;
- **suspect labels**: a labeled image whose labeled neighbours (itself left out) vote for
  another class with confidence >= ``SUSPECT_CONFIDENCE``;
- **near duplicates**: embeddings closer than ``DUPLICATE_SIMILARITY`` (labeling both adds
  nothing);
- **untouched clusters**: k-means clusters of the images without one labeled member.

    result = suggest(features, labels, paths, class_names, count=20)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.analysis.shots import similar_pairs

KNN_K = 10
KNN_TEMPERATURE = 0.07
SUSPECT_CONFIDENCE = 0.7
DUPLICATE_SIMILARITY = 0.98
UNLABELED = -1


@dataclass
class Suggestions:
    """``ranked``: [{path, score, reasons}] best first; ``suspect_labels``: [{path, label,
    neighbours_say, confidence}]; ``near_duplicates``: [[path, path, similarity]];
    ``untouched_clusters``: [{cluster, images, example}] of clusters without a label."""

    ranked: list[dict] = field(default_factory=list)
    suspect_labels: list[dict] = field(default_factory=list)
    near_duplicates: list[list] = field(default_factory=list)
    untouched_clusters: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"ranked": self.ranked, "suspect_labels": self.suspect_labels,
                "near_duplicates": self.near_duplicates,
                "untouched_clusters": self.untouched_clusters}


def knn_votes(labeled: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor,
              classes: int, k: int = KNN_K, exclude_self: bool = False) -> torch.Tensor:
    """Class probabilities [Nq, classes] from a weighted kNN over ``labeled`` [Nl, D] with
    ``labels`` [Nl] (``exclude_self``: queries are ``labeled``; each ignores itself)."""
    similarity = queries @ labeled.T
    if exclude_self:
        similarity.fill_diagonal_(-math.inf)
    k = min(k, labeled.shape[0] - int(exclude_self))
    top, index = similarity.topk(k, dim=1)
    weights = ((top - 1) / KNN_TEMPERATURE).exp()  # shifted: exp(1/T) would overflow fp32
    votes = torch.zeros(queries.shape[0], classes).scatter_add_(1, labels[index], weights)
    return votes / votes.sum(dim=1, keepdim=True).clamp(min=1e-12)


def margins(probabilities: torch.Tensor) -> torch.Tensor:
    """[N, C] -> [N]: top class probability minus the runner-up's (1 with one class)."""
    if probabilities.shape[1] < 2:
        return torch.ones(probabilities.shape[0])
    top2 = probabilities.topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def k_center_greedy(features: torch.Tensor, centers: torch.Tensor, candidates: torch.Tensor,
                    count: int, weights: torch.Tensor) -> list[tuple[int, float]]:
    """Pick ``count`` of ``candidates`` (indices into ``features`` [N, D]), each the one with
    the largest ``weights[i]`` x distance to its nearest center, then a center itself.
    ``centers``: indices to start from (may be empty). -> [(index, weighted distance)]."""
    if centers.numel():
        nearest = (2 - 2 * features[candidates] @ features[centers].T).clamp(min=0).min(1).values
    else:  # nothing to start from: the first pick is the one farthest from the mean
        mean = torch.nn.functional.normalize(features[candidates].mean(0, keepdim=True), dim=1)
        nearest = (2 - 2 * features[candidates] @ mean.T).clamp(min=0).squeeze(1)
    nearest = nearest.sqrt()
    picked: list[tuple[int, float]] = []
    available = torch.ones(candidates.numel(), dtype=torch.bool)
    for _ in range(min(count, candidates.numel())):
        scored = torch.where(available, nearest * weights[candidates], -1.0)
        best = int(scored.argmax())
        picked.append((int(candidates[best]), float(scored[best])))
        available[best] = False
        distance = (2 - 2 * features[candidates] @ features[candidates[best]]).clamp(min=0)
        nearest = torch.minimum(nearest, distance.sqrt())
    return picked


def kmeans(features: torch.Tensor, clusters: int, iterations: int = 20, seed: int = 0
           ) -> torch.Tensor:
    """Spherical k-means of [N, D] -> a cluster index per row [N] (k-means++ start)."""
    generator = torch.Generator().manual_seed(seed)
    count = features.shape[0]
    clusters = max(1, min(clusters, count))
    chosen = [int(torch.randint(count, (1,), generator=generator))]
    distance = (2 - 2 * features @ features[chosen[0]]).clamp(min=0)
    for _ in range(clusters - 1):
        chosen.append(int(torch.multinomial(distance + 1e-12, 1, generator=generator)))
        distance = torch.minimum(distance, (2 - 2 * features @ features[chosen[-1]]).clamp(0))
    centers = features[chosen]
    for _ in range(iterations):
        assignment = (features @ centers.T).argmax(dim=1)
        sums = torch.zeros_like(centers).index_add_(0, assignment, features)
        centers = torch.nn.functional.normalize(torch.where(
            sums.norm(dim=1, keepdim=True) > 0, sums, centers), dim=1)
    return (features @ centers.T).argmax(dim=1)


def suggest(features: torch.Tensor, labels: torch.Tensor, paths: list[str],
            class_names: list[str], count: int = 20) -> Suggestions:
    """features [N, D] L2-normalized; labels [N] class index or ``UNLABELED``; paths [N]."""
    labeled = (labels != UNLABELED).nonzero().squeeze(1)
    unlabeled = (labels == UNLABELED).nonzero().squeeze(1)
    result = Suggestions()
    margin = torch.ones(features.shape[0])
    votes = None
    if labeled.numel() and class_names:
        votes = knn_votes(features[labeled], labels[labeled], features, len(class_names))
        margin = margins(votes)
    clusters = kmeans(features, round(math.sqrt(features.shape[0] / 2)))
    touched = set(clusters[labeled].tolist())
    weights = 2.0 - margin  # full disagreement counts double
    for index, score in k_center_greedy(features, labeled, unlabeled, count, weights):
        reasons = [f"far from every labeled image (distance {score / weights[index]:.2f})"]
        if votes is not None and margin[index] < 0.5:
            top = votes[index].topk(min(2, len(class_names)))
            said = ", ".join(f"{class_names[c]} {p:.2f}" for p, c in
                             zip(top.values.tolist(), top.indices.tolist(), strict=True))
            reasons.append(f"its labeled neighbours disagree ({said})")
        cluster = int(clusters[index])
        if cluster not in touched:
            reasons.append(f"from a group of similar images no label touches yet "
                           f"(cluster {cluster}, {int((clusters == cluster).sum())} images)")
        result.ranked.append({"path": paths[index], "score": round(score, 4),
                              "reasons": reasons})
    if labeled.numel() > 1 and class_names:
        own = knn_votes(features[labeled], labels[labeled], features[labeled],
                        len(class_names), exclude_self=True)
        confidence, said = own.max(dim=1)
        for row, index in enumerate(labeled.tolist()):
            if said[row] != labels[index] and confidence[row] >= SUSPECT_CONFIDENCE:
                result.suspect_labels.append({
                    "path": paths[index], "label": class_names[int(labels[index])],
                    "neighbours_say": class_names[int(said[row])],
                    "confidence": round(float(confidence[row]), 3)})
    result.near_duplicates = [[paths[i], paths[j], similarity] for i, j, similarity
                              in similar_pairs(features, DUPLICATE_SIMILARITY)]
    for cluster in sorted(set(clusters.tolist()) - touched):
        members = (clusters == cluster).nonzero().squeeze(1)
        result.untouched_clusters.append({"cluster": cluster, "images": int(members.numel()),
                                          "example": paths[int(members[0])]})
    return result


def suggest_for_folder(checkpoint: str | Path, data: str | Path, labels: dict[str, str],
                       count: int = 20, device: str = "auto") -> dict:
    """Embed every image under ``data`` with the checkpoint's backbone and rank them;
    ``labels``: path relative to ``data`` -> class name, for the labeled ones. -> the
    ``Suggestions`` as a dict, with ``images`` and ``labeled`` counts."""
    from engine.distributed import resolve_device
    from engine.eval.embed import embed_folder_images
    from engine.eval.load import load_pretrained_backbone

    torch_device = resolve_device(device)
    pretrained = load_pretrained_backbone(checkpoint, torch_device)
    features, paths, _ = embed_folder_images(pretrained, data, torch_device)
    features = features.cpu()
    class_names = sorted({labels[path] for path in paths if path in labels})
    label_index = torch.tensor([class_names.index(labels[path]) if path in labels
                                else UNLABELED for path in paths])
    result = suggest(features, label_index, paths, class_names, count).as_dict()
    return {"images": len(paths), "labeled": int((label_index != UNLABELED).sum()), **result}
