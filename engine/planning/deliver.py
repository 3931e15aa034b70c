"""What ``hatchery run`` hands over: the plan's model or one of its baselines, whichever
scores highest on the held-out parts.

The run measures the model it finetuned on the plan's pretrained backbone beside the same
model on a random-init backbone and on raw pixels, on the same images. A pretrained backbone
that does not beat them has not learned what tells these parts apart yet (on good-only
anomaly detection it often has not: docs/benchmarks.md section 8), and handing the user the
weaker model when a better one was measured would waste the measurement. So the candidates
are ranked on their task's headline figure (``TASK_METRIC``), ties going to the plan's
model, and the winner is copied to ``out/model``. That figure is also the one reported:
chosen on the held-out parts, it flatters the winner a little when the candidates are close,
and report.md says so.

    out/candidates/pretrained/                  the plan's model, as finetune wrote it
    out/candidates/pretrained/baselines/NAME/   the same model on baseline NAME
    out/model/                                  a copy of the delivered candidate
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine.downstream.baselines import (
    BASELINE_WORDS,
    HEADLINE,
    beside_baselines,
    kept_figures,
    serving_cost_of,
)
from engine.downstream.model_dir import load_card
from engine.schemas.metrics import metric_value

PRETRAINED = "pretrained"
DONE = ".done"


def candidate_figures(task: str, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The kept figures of every candidate by name: the plan's model first, then its
    baselines (none when the run had nothing to validate on)."""
    return {PRETRAINED: kept_figures(task, report["metrics"]),
            **report["metrics"].get("baselines", {})}


def choose(task: str, candidates: dict[str, dict[str, Any]]) -> str:
    """The candidate with the highest headline figure; the plan's model on a tie or when a
    figure is missing."""
    headline = HEADLINE[task]
    chosen, best = PRETRAINED, metric_value(candidates[PRETRAINED], headline)
    if best is None:
        return PRETRAINED
    for name, figures in candidates.items():
        value = metric_value(figures, headline)
        if value is not None and value > best:
            chosen, best = name, value
    return chosen


def deliver(task: str, finetuned: Path, model_dir: Path) -> dict[str, Any]:
    """Copy the best candidate of ``finetuned`` (finetune's output with its ``report.json``
    and baselines) to ``model_dir``, whole or not at all; returns the delivered report:
    ``delivered`` (the candidate's name), ``candidates`` (every candidate's figures), its
    ``metrics`` with the others as ``baselines``, and ``warnings``. A ``model_dir`` already
    delivered is read back, not redone."""
    if (model_dir / DONE).exists():
        return json.loads((model_dir / "report.json").read_text())
    report = json.loads((finetuned / "report.json").read_text())
    candidates = candidate_figures(task, report)
    chosen = choose(task, candidates)
    others = {name: figures for name, figures in candidates.items() if name != chosen}
    if chosen == PRETRAINED:
        source, delivered = finetuned, {**report}
        delivered["metrics"] = {**report["metrics"], "baselines": others}
    else:
        source = finetuned / "baselines" / chosen
        card = load_card(source)
        headline = HEADLINE[task]
        mine = metric_value(candidates[PRETRAINED], headline)
        theirs = metric_value(candidates[chosen], headline)
        words = BASELINE_WORDS.get(chosen, chosen)
        delivered = {
            "task": task, "method": card.settings.get("method"),
            "classes": card.class_names, "threshold": card.threshold,
            "metrics": {**card.metrics, **serving_cost_of(candidates[chosen]),
                        "baselines": others},
            "warnings": [
                f"the plan's pretrained backbone scored below {words} on the held-out parts "
                f"({headline} {mine:.3f} against {theirs:.3f}), so the delivered model is "
                f"the one on {words}: pretraining has not learned what tells these parts "
                "apart yet",
                *beside_baselines(task, card.metrics, {n: f for n, f in others.items()
                                                        if n != PRETRAINED})]}
    delivered.update({"delivered": chosen, "candidates": candidates, "out": str(model_dir)})
    if "pseudo_labels" in report:  # what FixMatch made of the unlabeled images, kept
        delivered["pseudo_labels"] = report["pseudo_labels"]

    staging = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(
        "baselines", DONE, "report.json"))
    (staging / "report.json").write_text(json.dumps(delivered, indent=2, default=str))
    (staging / DONE).write_text("")
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    return delivered
