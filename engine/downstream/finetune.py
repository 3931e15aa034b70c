"""One entry for every defect model: train what the config asks for and, when asked, measure
its baselines beside it (``engine.downstream.baselines``). ``hatchery finetune`` and the
platform's finetune jobs call ``finetune``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.downstream.baselines import beside_baselines, measure_baselines
from engine.downstream.model_dir import load_card
from engine.schemas.detect import DetectConfig
from engine.schemas.finetune import AnomalyConfig, ClassifyConfig
from engine.train.progress import StageProgress


def finetune(config: AnomalyConfig | ClassifyConfig | DetectConfig, out: str | Path,
             progress: StageProgress | None = None, baselines: bool = False
             ) -> dict[str, Any]:
    """Train, measure and write the model directory ``out``; returns the report. With
    ``baselines`` and validation images, an anomaly or classify model's metrics also hold
    ``baselines`` (the same model on a random-init backbone and on raw pixels, written under
    ``out/baselines/``); ``warnings`` says in plain words where it does not beat them.
    (Detection has no cheap baseline method; raw pixels cannot feed a detector.)"""
    if isinstance(config, DetectConfig):
        from engine.downstream.detect import train_detector

        return {**train_detector(config, out, progress), "warnings": []}
    if isinstance(config, AnomalyConfig):
        from engine.downstream.anomaly import train_anomaly

        task, report = "anomaly", train_anomaly(config, out, progress)
    else:
        from engine.downstream.classify import train_classifier

        task, report = "classify", train_classifier(config, out, progress)
    warnings = [report["metrics"]["warning"]] if "warning" in report["metrics"] else []
    if baselines and config_validates(config):
        card = load_card(out)
        measured = measure_baselines(config, card.backbone["name"], Path(out) / "baselines",
                                     card.preprocessing.image_size, progress)
        warnings += beside_baselines(task, report["metrics"], measured)
        report["metrics"]["baselines"] = measured
    report["warnings"] = warnings
    return report


def config_validates(config: AnomalyConfig | ClassifyConfig) -> bool:
    """Whether the config names images to measure the model on."""
    return (config.val_defect if isinstance(config, AnomalyConfig) else config.val) is not None
