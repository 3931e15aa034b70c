"""Which candidates win: each registered model version is ranked among those of the same
task by the one metric that task is judged on. Torch-free, database-free.

A defect classifier is judged by balanced accuracy (a rare defect counts as much as the
common good part), an anomaly detector by image AUROC (threshold-free), a detector by box
mAP at IoU 0.5 (mask mAP50 for segmentation), a pretrained backbone by its weighted-kNN
balanced accuracy (at the smallest k measured). Versions of
different tasks are never ranked against each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.schemas.metrics import TASK_METRIC as PRIMARY_METRIC

KNN_SUFFIX = ".balanced_accuracy"


def task_of(kind: str, config: dict[str, Any]) -> str:
    """What a version's model does: its finetune task, else ``backbone``."""
    if kind == "finetune":
        return str(config.get("task", "finetune"))
    return "backbone"


def _k(name: str) -> int:
    """The k of ``knn.k=<k>.balanced_accuracy`` (a large number when unreadable)."""
    try:
        return int(name.split(".")[1].removeprefix("k="))
    except (IndexError, ValueError):
        return 1 << 30


def primary_metric(task: str, metrics: dict[str, float]) -> str | None:
    """The metric ``task`` is ranked by, when ``metrics`` holds it."""
    if task in PRIMARY_METRIC:
        return PRIMARY_METRIC[task] if PRIMARY_METRIC[task] in metrics else None
    knn = [name for name in metrics if name.startswith("knn.k=") and name.endswith(KNN_SUFFIX)]
    return min(knn, key=_k) if knn else None


@dataclass(frozen=True)
class Ranked:
    task: str
    primary_metric: str | None
    rank: int | None  # 1 = best among the candidates of its task; None: not measured


def rank(candidates: list[tuple[str, dict[str, float]]]) -> list[Ranked]:
    """(task, metrics) per candidate -> its rank within its task (equal scores share one),
    in the order given. The candidates of one task are read on one metric (for backbones,
    kNN at the smallest k any of them has); a candidate without it is not ranked."""
    judged_by: dict[str, str] = {}
    for task, metrics in candidates:
        name = primary_metric(task, metrics)
        if name is not None and _k(name) < _k(judged_by.get(task, "")):
            judged_by[task] = name
        elif name is not None:
            judged_by.setdefault(task, name)
    ranked = []
    for task, metrics in candidates:
        name = judged_by.get(task)
        if name is None or name not in metrics:
            ranked.append(Ranked(task, name, None))
            continue
        better = sum(1 for other_task, other in candidates
                     if other_task == task and other.get(name, float("-inf")) > metrics[name])
        ranked.append(Ranked(task, name, better + 1))
    return ranked
