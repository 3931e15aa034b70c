"""Which pseudo-labels FixMatch learns from: one confidence threshold, or one per class that
follows how far each class has been learned (FlexMatch's curriculum pseudo-labelling, Zhang
et al. 2021).

With one high threshold (0.95) the classes the model already knows pass it early and keep
supplying targets, while a class it is unsure of (on NEU-DET, ``inclusion``) rarely does, so
training drifts toward the easy classes and the hard one's recall falls. FlexMatch scales the
threshold of each class c by how many unlabeled images the model currently predicts as c
above the threshold:

    learned(c)  = count(c) / max(max over classes of count, images not yet predicted)
    threshold(c) = confidence · learned(c) / (2 - learned(c))

so a class few images are confidently predicted as gets a lower bar, and every bar starts at
0 (warm-up: while most images are still unpredicted, every pseudo-label counts) and rises to
``confidence`` as the classes are learned.
"""

from __future__ import annotations

import torch

from engine.schemas.finetune import ThresholdKind


class PseudoLabelThresholds:
    """Masks of the pseudo-labels to learn from. Keeps each unlabeled image's latest
    confident prediction (>= ``confidence``; -1: none yet), which sets ``flexible``'s
    per-class bars and tells afterwards what the unlabeled images were taken to be, and the
    share of pseudo-labels that passed their bars."""

    def __init__(self, kind: ThresholdKind, confidence: float, unlabeled_count: int,
                 num_classes: int, device: torch.device) -> None:
        self.kind = kind
        self.confidence = confidence
        self.num_classes = num_classes
        self.latest = torch.full((unlabeled_count,), -1, dtype=torch.long, device=device)
        # pseudo-labels that passed their bars, summed over the run (on the device: no sync)
        self.passed = torch.zeros((), device=device)
        self.offered = 0  # pseudo-labels read

    def class_thresholds(self) -> torch.Tensor:
        """[K] the bar each class's pseudo-labels must reach now."""
        if self.kind == "fixed":
            return torch.full((self.num_classes,), self.confidence, device=self.latest.device)
        predicted = self.latest[self.latest >= 0]
        counts = torch.bincount(predicted, minlength=self.num_classes).float()
        unpredicted = (self.latest < 0).sum().float()
        learned = counts / torch.maximum(counts.max(), unpredicted).clamp_min(1.0)
        return self.confidence * learned / (2 - learned)

    def mask(self, confidence: torch.Tensor, pseudo: torch.Tensor, indices: torch.Tensor
             ) -> torch.Tensor:
        """confidence [B] (highest class probability of each weak view), pseudo [B] (that
        class), indices [B] (the images' positions in the unlabeled set) -> float mask [B]
        of the pseudo-labels to learn from; then records the confident predictions."""
        mask = (confidence >= self.class_thresholds()[pseudo]).float()
        confident = confidence >= self.confidence
        self.latest[indices[confident]] = pseudo[confident]
        self.passed += mask.sum()
        self.offered += len(mask)
        return mask

    @property
    def used_fraction(self) -> float:
        """The share of the pseudo-labels read so far that passed their bars."""
        return float(self.passed) / max(self.offered, 1)
