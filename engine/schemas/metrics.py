"""The one figure each task's model is judged on: what the registry ranks candidates by and
what an evaluation compares with its baselines. Torch-free.

A defect classifier: balanced accuracy (a rare defect counts as much as the common good
part); an anomaly detector: image AUROC (threshold-free); a detector: box mAP at IoU 0.5;
a segmenter: mask mAP at IoU 0.5.
"""

from __future__ import annotations

TASK_METRIC: dict[str, str] = {"classify": "balanced_accuracy", "anomaly": "image_auroc",
                               "detect": "box.map_50", "segment": "mask.map_50"}


def metric_value(metrics: dict, name: str) -> float | None:
    """The figure ``name`` of a model's metrics; a dotted name (``box.map_50``) reads into
    nested sections. None where it is missing or not a number."""
    value: object = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None
