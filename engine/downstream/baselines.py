"""The baselines every evaluation is reported beside, and the plain words when a model does
not beat them.

A learned feature that does no better than a random network of the same architecture, or
than the raw pixels, has learned nothing about the parts; a classifier that calls every
image one class does no better than the majority class. So each model the platform measures
is measured again on those two baselines, on the same images, with the cheap method of its
task: PatchCore for anomaly detection (it learns nothing beyond the backbone), a linear
probe for classification, weighted kNN for a backbone. A detector has no cheap method: its
baseline is the same detector, same steps, on a random-init backbone (raw pixels have no
feature pyramid to feed it).

A FixMatch classifier is also measured beside the labels alone: the same network from random
init, trained as many steps on the labeled images only. Where the pretrained features miss
what tells the classes apart, FixMatch starts from a probe that guesses and its own
pseudo-labels keep it there; on generated parts with small pits, scratches and spots it
scored 0.27 balanced accuracy (chance: 0.25) where the labels alone reached 0.50
(docs/benchmarks.md, session 33).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.backbones.pixels import RAW_PIXELS
from engine.schemas.detect import DetectConfig
from engine.schemas.finetune import AnomalyConfig, BackboneSource, ClassifyConfig
from engine.schemas.metrics import TASK_METRIC, metric_value
from engine.schemas.pretrain import BackboneConfig
from engine.train.progress import StageProgress

RANDOM_INIT, RAW, LABELS_ALONE = "random_init", "raw_pixels", "labels_alone"
BASELINE_WORDS = {RANDOM_INIT: "a random-init network of the same architecture",
                  RAW: "the raw pixels",
                  LABELS_ALONE: "the labels alone (the same network from random init, "
                                "trained on the labeled images only)"}
# the figure each task's model is compared with its baselines on
HEADLINE = {**TASK_METRIC, "knn": "balanced_accuracy"}
KEPT = {"anomaly": ("image_auroc", "pixel_auroc", "aupro", "f1"),
        "classify": ("balanced_accuracy", "top1", "macro_f1")}
# a detector's figures per section (box; mask for a segmenter)
KEPT_DETECTION = ("map_50", "map")
# what a model costs to use (engine.downstream.serving_cost), kept beside its figures
SERVING_COST = ("latency_ms", "model_bytes")


def baseline_sources(architecture: str, model: BackboneSource) -> dict[str, BackboneSource]:
    """A random-init ``architecture`` and raw pixels, less the one ``model`` already is."""
    sources = {RANDOM_INIT: BackboneSource(architecture=architecture),
               RAW: BackboneSource(architecture=RAW_PIXELS)}
    return {name: source for name, source in sources.items() if source != model}


def serving_cost_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """The serving cost (``SERVING_COST``: latency, weights size) among ``metrics``."""
    return {key: metrics[key] for key in SERVING_COST if key in metrics}


def kept_figures(task: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures of ``metrics`` that a model is compared on (``KEPT``; a detector's per
    section), F1 as a number, per-class recall when there is one, and its serving cost
    when measured."""
    if task in ("detect", "segment"):
        return {**{section: {key: metrics[section][key] for key in KEPT_DETECTION}
                   for section in ("box", "mask") if section in metrics},
                **serving_cost_of(metrics)}
    kept = {**{key: metrics[key] for key in KEPT[task] if key in metrics},
            **serving_cost_of(metrics)}
    if isinstance(kept.get("f1"), dict):  # anomaly: F1 at the threshold, with its counts
        kept["f1"] = kept["f1"]["f1"]
    if "per_class" in metrics:
        kept["per_class_recall"] = {name: row["recall"]
                                    for name, row in metrics["per_class"].items()}
    return kept


def measure_baselines(config: AnomalyConfig | ClassifyConfig | DetectConfig,
                      architecture: str, out: str | Path, image_size: int | None = None,
                      progress: StageProgress | None = None) -> dict[str, dict[str, Any]]:
    """The model of ``config`` again on each baseline backbone (``baseline_sources``; a
    detector: the random-init one), on the same images; their metrics by baseline name.
    Classification baselines are linear probes at the model's ``image_size``, and for a
    network that is not itself the labels alone (FixMatch, a linear probe) the labels alone
    (``LABELS_ALONE``, ``config.steps`` steps): on small local defects they beat a probe on
    pooled features (docs/benchmarks.md, session 34)."""
    from engine.downstream.anomaly import train_anomaly
    from engine.downstream.classify import train_classifier
    from engine.downstream.detect import train_detector

    out = Path(out)
    results: dict[str, dict[str, Any]] = {}
    for name, source in baseline_sources(architecture, config.backbone).items():
        stage = _baseline_stage(progress, name)
        if isinstance(config, DetectConfig):
            if name == RAW:
                continue
            report = train_detector(config.model_copy(update={"backbone": source}),
                                    out / name, stage)
            results[name] = kept_figures(config.task, report["metrics"])
        elif isinstance(config, AnomalyConfig):
            report = train_anomaly(config.model_copy(update={"backbone": source,
                                                             "input_scale": None}),
                                   out / name, stage)
            results[name] = kept_figures("anomaly", report["metrics"])
        else:
            report = train_classifier(config.model_copy(update={
                "backbone": source, "method": "linear", "unlabeled": None,
                "image_size": image_size or config.image_size}), out / name, stage)
            results[name] = kept_figures("classify", report["metrics"])
    if isinstance(config, ClassifyConfig) and config.method != "supervised" \
            and architecture != RAW_PIXELS:
        report = train_classifier(config.model_copy(update={
            "backbone": BackboneSource(architecture=architecture), "method": "supervised",
            "unlabeled": None, "image_size": image_size or config.image_size}),
            out / LABELS_ALONE, _baseline_stage(progress, LABELS_ALONE))
        results[LABELS_ALONE] = kept_figures("classify", report["metrics"])
    return results


def _baseline_stage(progress: StageProgress | None, name: str) -> StageProgress:
    """``progress`` with each phase named after baseline ``name``."""
    def stage(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(f"baseline {name}: {phase}", done, total)

    return stage


def beside_baselines(task: str, metrics: dict[str, Any],
                     baselines: dict[str, dict[str, Any]]) -> list[str]:
    """Plain-words warnings: where the model does not beat a baseline on its task's
    headline figure."""
    headline = HEADLINE[task]
    warnings: list[str] = []
    mine = metric_value(metrics, headline)
    if mine is None:
        return warnings
    for name, figures in baselines.items():
        theirs = metric_value(figures, headline)
        if theirs is not None and mine <= theirs:
            warnings.append(
                f"the model scores no better than {BASELINE_WORDS.get(name, name)} ({headline} "
                f"{mine:.3f} against {theirs:.3f}): its features "
                "have not learned what tells these parts apart yet")
    return warnings


def baseline_backbones(recipe: BackboneConfig, channels: int, device: torch.device
                       ) -> dict[str, nn.Module]:
    """A random-init network of ``recipe`` (seeded: the same for every run) and raw pixels,
    in eval mode on ``device``, by baseline name."""
    from engine.backbones import build_backbone
    from engine.backbones.pixels import RawPixels

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        random_init = build_backbone(recipe, channels, drop_path=0.0)
    return {RANDOM_INIT: random_init.to(device).eval(),
            RAW: RawPixels(channels).to(device).eval()}
