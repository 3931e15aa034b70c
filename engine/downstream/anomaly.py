"""Good-only anomaly detection: fit PatchCore on good parts, set its threshold, measure it,
write the model directory. ``hatchery finetune anomaly`` and the platform's finetune jobs
call ``train_anomaly``; ``load_anomaly_model`` reads the directory back for predictions.

The threshold is F1-optimal on the labeled validation defects when given; otherwise it is a
quantile of the scores of good parts held out from the memory bank (a part's own patches in
the bank would score it near zero).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.dataset import DecodedImageDataset, channel_statistics
from engine.data.decode import decode_image
from engine.data.folder import DataFolderError, ImageFormat, probe_format, scan_image_folder
from engine.data.masks import read_mask
from engine.distributed import resolve_device
from engine.downstream.backbone_source import load_backbone, rebuild_backbone
from engine.downstream.evaluation import (
    MAX_PICTURES,
    ImageResult,
    binary_curves,
    write_evaluation,
)
from engine.downstream.heatmap import save_overlay
from engine.downstream.model_dir import (
    ModelCard,
    Preprocessing,
    fingerprint,
    load_card,
    load_weights,
    save_model,
)
from engine.downstream.normalization import MAX_IMAGES, fit_batchnorm
from engine.downstream.patchcore import PatchCore, PatchFeatures
from engine.errors import HatcheryInputError
from engine.eval.metrics import aupro, best_f1_threshold, binned_roc_auc, f1_at, roc_auc
from engine.schemas.finetune import AnomalyConfig
from engine.train.progress import StageProgress

HELD_OUT_FRACTION = 0.1
MAX_OVERLAYS = 50


@dataclass
class Scored:
    path: Path
    score: float
    anomaly_map: torch.Tensor  # [H, W]
    defect: bool


def _images(folder: str, what: str) -> list[Path]:
    scan = scan_image_folder(folder)
    if not scan.paths:
        raise DataFolderError(f"{what} folder {folder} holds no readable image")
    return scan.paths


def train_anomaly(config: AnomalyConfig, out: str | Path,
                  progress: StageProgress | None = None) -> dict[str, Any]:
    """Fit, threshold and measure a PatchCore model; write it to ``out``; return the report
    (metrics, threshold, bank size, where the heat maps are)."""
    progress = progress or (lambda stage, done, total: None)
    out = Path(out)
    torch.manual_seed(config.seed)  # a random-init backbone is the same for the same seed
    device = resolve_device(config.device)
    good = _images(config.good, "good")
    probed = probe_format(good, seed=config.seed)
    sourced = load_backbone(config.backbone, probed.channels, device)
    image_format = sourced.image_format or probed
    if sourced.mean is not None:
        mean, std = sourced.mean, sourced.std
    else:
        mean, std = channel_statistics(DecodedImageDataset(
            good, image_format.channels, image_format.bit_depth), seed=config.seed)
    first = decode_image(good[0], image_format.channels, image_format.bit_depth)
    scale = config.input_scale or sourced.pretrain_scale(*first.shape[-2:])
    model = PatchCore(PatchFeatures(sourced.backbone, config.neighbourhood), scale, mean, std,
                      config.tile, device, config.even_lighting)

    validating = config.val_good is not None
    rng = random.Random(config.seed)
    held_out: list[Path] = []
    fitted = list(good)
    if not validating:
        rng.shuffle(fitted)
        count = max(1, round(len(fitted) * HELD_OUT_FRACTION)) if len(fitted) > 1 else 0
        held_out, fitted = sorted(fitted[:count]), sorted(fitted[count:])
        if not held_out:
            raise HatcheryInputError("anomaly detection needs two good images or more (one "
                                     "to learn from, one to set the threshold), or val_good "
                                     "and val_defect")

    normalized = 0
    fit_normalization = (config.fit_normalization if config.fit_normalization is not None
                         else not sourced.pretrained)
    if fit_normalization:
        spread = fitted[::math.ceil(len(fitted) / MAX_IMAGES)]
        progress("normalization", 0, 1)
        normalized = fit_batchnorm(sourced.backbone, (model.prepare(decode_image(
            path, image_format.channels, image_format.bit_depth)) for path in spread),
            config.seed)
        progress("normalization", 1, 1)

    generator = torch.Generator().manual_seed(config.seed)
    patches = []
    for index, path in enumerate(fitted, 1):
        features, _ = model.patches(decode_image(path, image_format.channels,
                                                 image_format.bit_depth))
        if features.shape[0] > config.patches_per_image:
            rows = torch.randperm(features.shape[0], generator=generator)
            features = features[rows[:config.patches_per_image].to(features.device)]
        patches.append(features)
        progress("patches", index, len(fitted))
    progress("coreset", 0, 1)
    model.fit(torch.cat(patches), config.bank_size, config.seed)
    progress("coreset", 1, 1)

    def score_all(paths: list[Path], defect: bool, stage: str) -> list[Scored]:
        scored = []
        for index, path in enumerate(paths, 1):
            value, anomaly_map = model.score(decode_image(path, image_format.channels,
                                                          image_format.bit_depth))
            scored.append(Scored(path, value, anomaly_map, defect))
            progress(stage, index, len(paths))
        return scored

    if validating:
        scored = (score_all(_images(config.val_good, "val_good"), False, "val good")
                  + score_all(_images(config.val_defect, "val_defect"), True, "val defect"))
        metrics, threshold = _validation_metrics(scored, config, image_format)
    else:
        scored = score_all(held_out, False, "held-out good")
        threshold = float(np.quantile([s.score for s in scored], config.good_quantile))
        metrics = {"held_out_good": len(scored), "threshold_rule":
                   f"quantile {config.good_quantile:g} of held-out good scores"}

    card = ModelCard(
        task="anomaly",
        preprocessing=Preprocessing(image_format.channels, image_format.bit_depth,
                                    list(mean), list(std), input_scale=scale,
                                    tile=config.tile, even_lighting=config.even_lighting),
        backbone=sourced.recipe,
        data_fingerprint=fingerprint(good, Path(config.good)),
        metrics=metrics, threshold=threshold,
        settings={"neighbourhood": config.neighbourhood, "bank_size": len(model.bank),
                  "pretrained": sourced.pretrained, "normalization_fitted_layers": normalized})
    save_model(out, card, {"backbone": sourced.backbone.state_dict(),
                           "bank": model.bank.cpu()})
    pictures = {}
    for s in _shown(scored, threshold):
        picture = f"heatmaps/{s.path.stem}.png"
        save_overlay(decode_image(s.path, image_format.channels, image_format.bit_depth),
                     s.anomaly_map, threshold, out / picture)
        pictures[s.path] = picture
    _write_evaluation(out, scored, threshold, pictures, config)
    overlays = list(pictures.values())
    return {"task": "anomaly", "out": str(out), "threshold": threshold,
            "input_scale": scale, "bank_size": len(model.bank), "metrics": metrics,
            "heatmaps": len(overlays)}


def _shown(scored: list[Scored], threshold: float) -> list[Scored]:
    """The images given a heat map: the ``MAX_OVERLAYS`` highest scores, and every image
    the threshold calls wrongly (up to ``MAX_PICTURES`` of them)."""
    wrong = [s for s in scored if (s.score >= threshold) != s.defect][:MAX_PICTURES]
    top = sorted(scored, key=lambda s: -s.score)[:MAX_OVERLAYS]
    return list({id(s): s for s in top + wrong}.values())


def _write_evaluation(out: Path, scored: list[Scored], threshold: float,
                      pictures: dict[Path, str], config: AnomalyConfig) -> None:
    """``evaluation.json``: each scored image good or defect, truly and by the threshold;
    the confusion at the threshold; ROC and PR curves of the image scores (validation
    defects only)."""
    roots = {False: Path(config.val_good or config.good),
             True: Path(config.val_defect or config.good)}

    def name(defect: bool) -> str:
        return "defect" if defect else "good"

    results = [ImageResult(_relative(s.path, roots[s.defect]), name(s.defect),
                           name(s.score >= threshold), s.score, pictures.get(s.path))
               for s in scored]
    curve = binary_curves(np.array([s.score for s in scored]),
                          np.array([s.defect for s in scored]), "defect")
    write_evaluation(out, "anomaly", ["good", "defect"], results,
                     [curve] if curve else [], threshold)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _validation_metrics(scored: list[Scored], config: AnomalyConfig,
                        image_format: ImageFormat) -> tuple[dict[str, Any], float]:
    scores = torch.tensor([s.score for s in scored])
    labels = torch.tensor([s.defect for s in scored])
    threshold, _ = best_f1_threshold(scores, labels)
    metrics: dict[str, Any] = {
        "image_auroc": roc_auc(scores, labels),
        "f1": f1_at(scores, labels, threshold),
        "val_good": int((~labels).sum()), "val_defect": int(labels.sum()),
        "threshold_rule": "F1-optimal on the validation defects"}
    if config.masks is not None:
        masks = [read_mask(config.masks, s.path, *s.anomaly_map.shape) for s in scored]
        maps = [s.anomaly_map.numpy() for s in scored]
        metrics["pixel_auroc"] = binned_roc_auc(
            torch.from_numpy(np.concatenate([m.ravel() for m in maps])),
            torch.from_numpy(np.concatenate([m.ravel() for m in masks])))
        metrics["aupro"] = aupro(maps, masks)
    return metrics, threshold


def load_anomaly_model(directory: str | Path, device: torch.device
                       ) -> tuple[PatchCore, ModelCard]:
    """The fitted PatchCore of a model directory, ready to score, and its card."""
    card = load_card(directory, task="anomaly")
    weights = load_weights(directory, device)
    prep = card.preprocessing
    backbone = rebuild_backbone(card.backbone, prep.channels)
    backbone.load_state_dict(weights["backbone"])
    model = PatchCore(PatchFeatures(backbone.to(device).eval(),
                                    card.settings["neighbourhood"]),
                      prep.input_scale, prep.mean, prep.std, prep.tile, device,
                      prep.even_lighting)
    model.bank = weights["bank"].to(device)
    return model, card
