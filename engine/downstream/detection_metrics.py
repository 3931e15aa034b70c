"""Detection and instance-segmentation scores: COCO mean average precision (torchmetrics'
``MeanAveragePrecision`` on pycocotools) of boxes and, for segment models, of masks.

    score = DetectionScore(["scratch", "pit"], masks=False)
    score.update(predictions, targets)   # per image: boxes [K, 4] xyxy px, labels [K], ...
    score.compute()  # {"box": {"map", "map_50", "map_75", "mar_100", "per_class"}, ...}

``map`` is AP averaged over IoU 0.50:0.05:0.95 and the classes, 101-point interpolated;
``map_50`` at IoU 0.5 alone. ``per_class`` gives each class's ``ap`` (0.50:0.95) and ``ap50``;
a class without a ground-truth object in the set has no AP and is left out of it and of the
means. Labels here are class indices (0-based, no background).
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.detection import MeanAveragePrecision

Detections = dict[str, torch.Tensor]
SUMMARY = ("map", "map_50", "map_75", "mar_100")


class DetectionScore:
    """Accumulates predictions and ground truth image by image, then scores them.

    ``update`` takes, per image, predictions ``{"boxes": float [P, 4], "scores": [P],
    "labels": int [P]}`` (+ ``"masks": bool [P, H, W]`` when ``masks``) and targets
    ``{"boxes": [K, 4], "labels": [K]}`` (+ ``"masks": bool [K, H, W]``)."""

    def __init__(self, class_names: list[str], masks: bool = False) -> None:
        self.class_names = class_names
        self.kinds = {"box": "bbox", **({"mask": "segm"} if masks else {})}
        iou_types = tuple(self.kinds.values())
        self.coco = MeanAveragePrecision(iou_type=iou_types, class_metrics=True)
        self.at_50 = MeanAveragePrecision(iou_type=iou_types, class_metrics=True,
                                          iou_thresholds=[0.5])
        self.images = 0
        self.objects = 0

    def update(self, predictions: list[Detections], targets: list[Detections]) -> None:
        predictions = [{key: value.detach().cpu() for key, value in p.items()}
                       for p in predictions]
        targets = [{key: value.detach().cpu() for key, value in t.items()} for t in targets]
        self.coco.update(predictions, targets)
        self.at_50.update(predictions, targets)
        self.images += len(targets)
        self.objects += sum(len(t["labels"]) for t in targets)

    def compute(self) -> dict[str, Any]:
        coco, at_50 = self.coco.compute(), self.at_50.compute()
        report: dict[str, Any] = {"images": self.images, "objects": self.objects}
        for name, kind in self.kinds.items():
            def value(result: dict[str, torch.Tensor], key: str, kind: str = kind) -> Any:
                return result[f"{kind}_{key}"] if len(self.kinds) > 1 else result[key]

            section: dict[str, Any] = {key: _number(value(coco, key)) for key in SUMMARY}
            per_class = {}
            classes = coco["classes"].flatten().tolist()
            for position, index in enumerate(classes):
                ap = _number(value(coco, "map_per_class").flatten()[position])
                if ap is not None:
                    per_class[self.class_names[index]] = {
                        "ap": ap, "ap50": _number(value(at_50, "map_per_class").flatten()[
                            at_50["classes"].flatten().tolist().index(index)])}
            section["per_class"] = per_class
            report[name] = section
        return report


def _number(value: torch.Tensor) -> float | None:
    """A score, or None where COCO has none (-1: no ground truth to measure against)."""
    number = float(value)
    return None if number < 0 else round(number, 6)


def detection_metrics(predictions: list[Detections], targets: list[Detections],
                      class_names: list[str], masks: bool = False) -> dict[str, Any]:
    """``DetectionScore`` of one list of images."""
    score = DetectionScore(class_names, masks)
    score.update(predictions, targets)
    return score.compute()
