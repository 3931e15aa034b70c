"""Predictions of a model directory on images: one JSON-ready dict per image.

classify: ``{"image", "class", "scores": {class: probability}}``;
anomaly: ``{"image", "score", "threshold", "verdict": "defect" | "good", "heatmap"}`` (the
heat map PNG is written when a folder for it is given).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from engine.data.decode import UnreadableImageError, decode_image
from engine.data.folder import IMAGE_SUFFIXES, DataFolderError, scan_image_folder
from engine.distributed import resolve_device
from engine.downstream.anomaly import load_anomaly_model
from engine.downstream.classify import load_classifier, prepare
from engine.downstream.heatmap import save_overlay
from engine.downstream.model_dir import load_card


def image_paths(inputs: list[str]) -> list[Path]:
    """The images named, and those under the folders named, in order."""
    paths: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            paths += scan_image_folder(path).paths
        elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            paths.append(path)
        else:
            raise DataFolderError(f"{given} is neither an image nor a folder of images")
    if not paths:
        raise DataFolderError(f"no image found in {', '.join(inputs)}")
    return paths


def predict(model_dir: str | Path, inputs: list[str], heatmaps: str | Path | None = None,
            device: str = "auto") -> Iterator[dict[str, Any]]:
    """Predictions for every image of ``inputs``, in order; an unreadable image gets
    ``{"image", "error"}`` and the others go on."""
    torch_device = resolve_device(device)
    card = load_card(model_dir)
    paths = image_paths(inputs)
    prep = card.preprocessing
    if card.task == "anomaly":
        model, card = load_anomaly_model(model_dir, torch_device)
    elif card.task == "classify":
        classifier, card = load_classifier(model_dir, torch_device)
    else:
        raise DataFolderError(f"{model_dir} holds a model of task {card.task}; predict reads "
                              "anomaly and classify models")
    for path in paths:
        try:
            image = decode_image(path, prep.channels, prep.bit_depth)
        except UnreadableImageError as error:
            yield {"image": str(path), "error": str(error)}
            continue
        if card.task == "anomaly":
            score, anomaly_map = model.score(image)
            result = {"image": str(path), "score": score, "threshold": card.threshold,
                      "verdict": "defect" if score >= card.threshold else "good"}
            if heatmaps is not None:
                target = Path(heatmaps) / f"{path.stem}.png"
                result["heatmap"] = str(save_overlay(image, anomaly_map, card.threshold,
                                                     target))
            yield result
        else:
            x = prepare(image, prep.image_size, prep.mean, prep.std, torch_device)
            with torch.no_grad():
                probabilities = classifier(x).softmax(1)[0]
            best = int(probabilities.argmax())
            yield {"image": str(path), "class": card.class_names[best],
                   "scores": {name: round(float(p), 6)
                              for name, p in zip(card.class_names, probabilities,
                                                 strict=True)}}
