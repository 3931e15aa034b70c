"""``report.md`` of ``hatchery run``: what the data is like, what the plan chose and why, and
what the model measured beside a random-init network and the raw pixels, and which of them
the run delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.downstream.baselines import BASELINE_WORDS
from engine.planning.deliver import PRETRAINED
from engine.schemas.metrics import TASK_METRIC, metric_value

# the figures a task's table shows, in order (``engine.downstream.baselines.KEPT``); dotted
# names read into a section
FIGURES = {"anomaly": ("image_auroc", "pixel_auroc", "aupro", "f1.f1"),
           "classify": ("balanced_accuracy", "top1", "macro_f1"),
           "detect": ("box.map_50", "box.map"),
           "segment": ("mask.map_50", "mask.map", "box.map_50", "box.map")}
ROWS = {PRETRAINED: "the plan's pretrained backbone", **BASELINE_WORDS}
NO_RAW_PIXELS = ("Raw pixels cannot feed a detector (it needs a feature pyramid): its only "
                 "baseline is the random-init network.")


def _figure(values: dict[str, Any], name: str) -> str:
    value = metric_value(values, name)
    if value is None and name.endswith(".f1"):  # a baseline keeps F1 as a number
        value = metric_value(values, name.removesuffix(".f1"))
    return "-" if value is None else f"{value:.3f}"


def metrics_table(task: str, result: dict[str, Any]) -> list[str]:
    """Markdown rows: each candidate the run measured (``engine.planning.deliver``) on the
    task's figures, the delivered one marked."""
    figures = FIGURES[task]
    header = [name.removesuffix(".f1") for name in figures]
    lines = ["| model on | " + " | ".join(header) + " |", "|---" * (len(figures) + 1) + "|"]
    for name, values in result["candidates"].items():
        mark = " (**delivered**)" if name == result["delivered"] else ""
        lines.append(f"| {ROWS.get(name, name)}{mark} | "
                     + " | ".join(_figure(values, key) for key in figures) + " |")
    if len(result["candidates"]) > 1:
        lines += ["", "The delivered model is the one with the best "
                  f"{TASK_METRIC[task]} here: chosen on these parts, its figure flatters it a "
                  "little when the candidates are close."]
    if task in ("detect", "segment"):
        lines += ["", NO_RAW_PIXELS]
    return lines


def pseudo_label_lines(summary: dict[str, Any] | None) -> list[str]:
    """Markdown lines on what FixMatch took its unlabeled images to be (the classifier
    report's ``pseudo_labels``); none for a model that read no unlabeled image."""
    if not summary:
        return []
    taken = ", ".join(f"{name} {count}" for name, count in summary["per_class"].items())
    return ["## What FixMatch took the unlabeled images to be",
            f"- confident (at least {summary['confidence']:.2f}) about "
            f"{summary['confidently_labeled']} of {summary['unlabeled_images']} images, "
            f"last taken as: {taken}",
            f"- {summary['used_fraction']:.0%} of the pseudo-labels it read passed their "
            f"bars ({summary['thresholds']}) and were learned from",
            "- pseudo_labels.json beside the FixMatch model names each image's class: a mix "
            "far from your parts' (mostly good ones, say) means it learned its own mistakes",
            ""]


def write_report(path: Path, request: Any, analysis: dict[str, Any], plan: dict[str, Any],
                 result: dict[str, Any], pretrain: dict[str, Any]) -> None:
    groups, duplicates = analysis["groups"], analysis["duplicates"]
    estimate = plan["estimate"]
    lines = [f"# {request.task} model for {request.data}", "",
             "## The data",
             f"- {analysis['images']} images ({len(analysis['unreadable'])} unreadable), "
             f"{'gray' if analysis['color']['gray_content'] else 'color'}",
             f"- {groups['multi_shot_groups']} groups of shots of one part "
             f"({groups['images_in_them']} images): every split keeps a group on one side",
             f"- {len(duplicates['exact'])} sets of exact duplicates, "
             f"{len(duplicates['near'])} of near duplicates", "",
             "## The plan and why",
             *[f"- **{r['choice']}** = {r['value']}: {r['why']}" for r in plan["reasons"]],
             f"- estimated before the run: {estimate['total_minutes']:.1f} minutes "
             f"({estimate['pretrain_minutes']:.1f} pretraining)", "",
             "## Pretraining",
             f"- {pretrain['steps']} steps, {pretrain['images_per_second'] or 0:.0f} images/s "
             f"at the end, final loss {pretrain['loss'] or float('nan'):.3f}", "",
             "## Metrics on the held-out parts", *metrics_table(request.task, result),
             "", *pseudo_label_lines(result.get("pseudo_labels"))]
    warnings = result.get("warnings", [])
    lines += ["## Warnings", *[f"- {w}" for w in warnings]] if warnings else \
        ["No warnings: the plan's model beats its baselines on its headline figure."]
    path.write_text("\n".join(lines) + "\n")
