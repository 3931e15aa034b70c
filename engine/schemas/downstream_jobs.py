"""The platform's jobs of the downstream models: ``finetune``, ``predict``, ``export``.
Torch-free. Where the engine's configs (``engine.schemas.finetune``, ``engine.schemas.detect``)
name folders, these name dataset versions and jobs (``engine.schemas.kinds``) and carry the
settings of their task as they are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from engine.schemas.detect import DetectSettings
from engine.schemas.eval import Device
from engine.schemas.finetune import AnomalySettings, BackboneSource, ClassifySettings
from engine.schemas.types import Bool, StrictModel

FinetuneTask = Literal["classify", "anomaly", "detect", "segment"]


class FinetuneJobConfig(StrictModel):
    """A platform ``finetune`` job: dataset versions in, a model directory out.

    ``train``: the labeled version to learn from — for ``classify`` its classes, for
    ``anomaly`` its good parts (``part_condition``), for ``detect`` / ``segment`` its boxes
    / outlines (images without any count as unlabeled, good parts as images with none).
    ``test``: the labeled version to measure on and set the threshold with; left out, the
    train version's images marked ``test`` are held out for it, and when none are
    (classify, anomaly) the worker holds out whole parts, the shots of one part together
    (worker/held_out.py). ``unlabeled``: FixMatch's or
    the detection teacher's unlabeled images; for classify, left out, every image of the
    train version (a detector learns from labels alone without it). ``backbone``: a pretrain
    job's checkpoint (``job://<id>``) or a random-init baseline; in a pipeline, the
    pipeline's own pretrain. Only the settings of ``task`` are read."""

    task: FinetuneTask
    backbone: BackboneSource | None = None
    train: str = Field(min_length=1, max_length=4096)
    test: str | None = Field(None, min_length=1, max_length=4096)
    unlabeled: str | None = Field(None, min_length=1, max_length=4096)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    # the same model on a random-init backbone and on raw pixels, measured beside it
    baselines: Bool = True

    @model_validator(mode="after")
    def _task_reads(self) -> FinetuneJobConfig:
        if self.task == "anomaly" and self.unlabeled is not None:
            raise ValueError("anomaly detection learns from good parts only: leave "
                             "unlabeled out")
        if self.task in ("detect", "segment") and self.backbone and \
                self.backbone.architecture == "raw_pixels":
            raise ValueError("detection needs a learned backbone, not raw pixels")
        return self

    @property
    def settings(self) -> ClassifySettings | AnomalySettings | DetectSettings:
        """The settings of the task (detection's for ``segment`` too)."""
        section = "detect" if self.task in ("detect", "segment") else self.task
        return getattr(self, section)


ExportFormat = Literal["onnx", "torchscript"]


class PredictJobConfig(StrictModel):
    """A platform ``predict`` job: a finetune job's model on every image of a dataset
    version; the predictions are its artifact (JSON lines, one per image)."""

    model: str = Field(min_length=1, max_length=4096)
    data: str = Field(min_length=1, max_length=4096)
    heatmaps: Bool = False  # anomaly: heat-map overlays as a zip artifact
    device: Device = "auto"


class ExportJobConfig(StrictModel):
    """A platform ``export`` job: a finetune job's model as ONNX or TorchScript,
    preprocessing baked in, checked against the eager model."""

    model: str = Field(min_length=1, max_length=4096)
    format: ExportFormat = "onnx"
