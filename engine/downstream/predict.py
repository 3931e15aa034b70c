"""Predictions of a model directory on images: one JSON-ready dict per image.

classify: ``{"image", "class", "scores": {class: probability}}``;
anomaly: ``{"image", "score", "threshold", "verdict": "defect" | "good", "heatmap"}`` (the
heat map PNG is written when a folder for it is given);
detect: ``{"image", "boxes": [{"class", "score", "box": [x0, y0, x1, y1]}]}``; segment: the
same and ``"masks"``, one COCO RLE per box.
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
from engine.downstream.detection_model import load_detector, predict_objects
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


class Predictor:
    """A model directory loaded once, answering image after image (the CLI's ``predict``
    loop, and a prediction server that keeps recently used models loaded)."""

    def __init__(self, model_dir: str | Path, device: str = "auto") -> None:
        self.device = resolve_device(device)
        card = load_card(model_dir)
        if card.task == "anomaly":
            self.model, card = load_anomaly_model(model_dir, self.device)
        elif card.task == "classify":
            self.model, card = load_classifier(model_dir, self.device)
        elif card.task in ("detect", "segment"):
            self.model, card = load_detector(model_dir, self.device)
        else:
            raise DataFolderError(f"{model_dir} holds a model of task {card.task}; predict "
                                  "reads anomaly, classify, detect and segment models")
        self.card = card

    @property
    def task(self) -> str:
        return self.card.task

    def __call__(self, path: Path, heatmap: Path | None = None) -> dict[str, Any]:
        """The prediction for the image at ``path`` (``{"image", "error"}`` when it cannot be
        read); an anomaly model writes its heat-map overlay to ``heatmap`` when given."""
        card, prep = self.card, self.card.preprocessing
        try:
            image = decode_image(path, prep.channels, prep.bit_depth)
        except UnreadableImageError as error:
            return {"image": str(path), "error": str(error)}
        if card.task == "anomaly":
            score, anomaly_map = self.model.score(image)
            result = {"image": str(path), "score": score, "threshold": card.threshold,
                      "verdict": "defect" if score >= card.threshold else "good"}
            if heatmap is not None:
                result["heatmap"] = str(save_overlay(image, anomaly_map, card.threshold,
                                                     heatmap))
            return result
        if card.task in ("detect", "segment"):
            return {"image": str(path),
                    **predict_objects(self.model, card, image, self.device)}
        x = prepare(image, prep.image_size, prep.mean, prep.std, self.device)
        with torch.no_grad():
            probabilities = self.model(x).softmax(1)[0]
        best = int(probabilities.argmax())
        return {"image": str(path), "class": card.class_names[best],
                "scores": {name: round(float(p), 6)
                           for name, p in zip(card.class_names, probabilities, strict=True)}}


def predict(model_dir: str | Path, inputs: list[str], heatmaps: str | Path | None = None,
            device: str = "auto") -> Iterator[dict[str, Any]]:
    """Predictions for every image of ``inputs``, in order; an unreadable image gets
    ``{"image", "error"}`` and the others go on."""
    predictor = Predictor(model_dir, device)
    for path in image_paths(inputs):
        target = Path(heatmaps) / f"{path.stem}.png" if heatmaps is not None else None
        yield predictor(path, target)
