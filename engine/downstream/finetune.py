"""One entry for every defect model: train what the config asks for, measure what it costs to
use (``engine.downstream.serving_cost``) and, when asked, its baselines beside it
(``engine.downstream.baselines``). ``hatchery finetune`` and the platform's finetune jobs
call ``finetune``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.downstream.baselines import beside_baselines, measure_baselines
from engine.downstream.model_dir import load_card
from engine.downstream.serving_cost import serving_cost
from engine.schemas.detect import DetectConfig
from engine.schemas.finetune import AnomalyConfig, ClassifyConfig
from engine.train.progress import StageProgress


def finetune(config: AnomalyConfig | ClassifyConfig | DetectConfig, out: str | Path,
             progress: StageProgress | None = None, baselines: bool = False
             ) -> dict[str, Any]:
    """Train, measure and write the model directory ``out``; returns the report. With
    ``baselines`` and validation images, the metrics also hold ``baselines`` (the same model
    on a random-init backbone and, but for a detector, on raw pixels, written under
    ``out/baselines/``, each with its serving cost); ``warnings`` says in plain words where
    it does not beat them. A detector's baseline trains as long as the model did."""
    if isinstance(config, DetectConfig):
        from engine.downstream.detect import train_detector

        task, report = config.task, train_detector(config, out, progress)
    elif isinstance(config, AnomalyConfig):
        from engine.downstream.anomaly import train_anomaly

        task, report = "anomaly", train_anomaly(config, out, progress)
    else:
        from engine.downstream.classify import train_classifier

        task, report = "classify", train_classifier(config, out, progress)
    images = _images_of(config)
    report["metrics"].update(serving_cost(out, images, config.device))
    warnings = [report["metrics"]["warning"]] if "warning" in report["metrics"] else []
    if baselines and config_validates(config):
        card = load_card(out)
        measured = measure_baselines(config, card.backbone["name"], Path(out) / "baselines",
                                     card.preprocessing.image_size, progress)
        for name, figures in measured.items():
            figures.update(serving_cost(Path(out) / "baselines" / name, images, config.device))
        warnings += beside_baselines(task, report["metrics"], measured)
        report["metrics"]["baselines"] = measured
    report["warnings"] = warnings
    return report


def config_validates(config: AnomalyConfig | ClassifyConfig | DetectConfig) -> bool:
    """Whether the config names images to measure the model on."""
    return (config.val_defect if isinstance(config, AnomalyConfig) else config.val) is not None


def _images_of(config: AnomalyConfig | ClassifyConfig | DetectConfig) -> list[Path]:
    """Images of the kind the model will see, to time it on: its validation images, else
    those it learned from."""
    from engine.data.folder import scan_image_folder

    if isinstance(config, DetectConfig):
        folder = Path(config.val).parent if Path(config.val).is_file() else Path(config.val)
    elif isinstance(config, AnomalyConfig):
        folder = Path(config.val_defect or config.good)
    else:
        folder = Path(config.val or config.labeled)
    return scan_image_folder(folder).paths
