"""Configuration of object detection and instance segmentation. Torch-free; the CLI reads it
from flags (``hatchery finetune detect|segment``), the platform's jobs from their config.

As for the other downstream tasks, ``DetectSettings`` is how the model learns and
``DetectConfig`` adds where the backbone and the images come from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from engine.schemas.eval import Device
from engine.schemas.finetune import BackboneSource
from engine.schemas.types import MAX_SEED, Float, Int, StrictModel

DetectTask = Literal["detect", "segment"]
AnnotationFormatName = Literal["auto", "coco", "voc", "yolo"]
# ``batch``: the backbone's BatchNorm layers train on (batch statistics), and the FPN and mask
# head normalize with BatchNorm too; ``group``: every BatchNorm becomes a GroupNorm with its
# learned scale and shift (small batches, or a random-init backbone trained from scratch).
DetectNorm = Literal["batch", "group"]


class DetectSettings(StrictModel):
    """Faster R-CNN (``detect``) or Mask R-CNN (``segment``) with an FPN on the backbone.

    Images are resized so their shorter side is ``image_size`` network pixels (``None``: the
    typical shorter side of the training images, their native scale). With unlabeled images
    the training is Unbiased Teacher (Liu et al. 2021): ``burn_in`` of the steps on the
    labels alone, then a teacher (an EMA of the student, decay ``ema`` or lower on a run too
    short for it to forget its start) labels weakly
    augmented unlabeled images where it is confident (score >= ``confidence``), and the
    student learns those pseudo-labels from strongly augmented views, weighted by
    ``unlabeled_weight``. Predictions below ``score_threshold`` are left out."""

    image_size: Int | None = Field(None, ge=32, le=2048)
    steps: Int = Field(2000, ge=1, le=1_000_000)
    batch_size: Int = Field(4, ge=1, le=256)
    unlabeled_batch_size: Int = Field(4, ge=1, le=256)
    learning_rate: Float = Field(0.01, gt=0, le=1)
    weight_decay: Float = Field(1e-4, ge=0, le=1)
    warmup_steps: Int = Field(100, ge=0, le=100_000)  # at most a fifth of the steps
    # proposals sampled per image to train the RoI heads (a quarter of them objects at most)
    rois_per_image: Int = Field(512, ge=16, le=4096)
    norm: DetectNorm = "batch"
    burn_in: Float = Field(0.3, ge=0, lt=1)  # fraction of the steps on labels alone
    ema: Float = Field(0.999, ge=0, lt=1)
    confidence: Float = Field(0.7, ge=0, le=1)
    unlabeled_weight: Float = Field(2.0, ge=0, le=100)
    score_threshold: Float = Field(0.5, ge=0, le=1)
    max_detections: Int = Field(100, ge=1, le=1000)  # objects per image at most
    # region proposals per image scored at inference (and by the teacher): on NEU-DET 300
    # found what torchvision's 1,000 find (mAP50 0.402 against 0.401) in half the time
    proposals: Int = Field(300, ge=1, le=4000)
    device: Device = "auto"
    seed: Int = Field(0, ge=0, le=MAX_SEED)


class DetectConfig(DetectSettings):
    """The detector's settings, its ``task`` and its data: ``train`` and ``val`` annotations
    in ``annotation_format`` (a COCO .json file, a folder of Pascal VOC .xml files and their
    images, or a YOLO folder of images and label .txt files), and a folder of ``unlabeled``
    images (semi-supervised)."""

    task: DetectTask = "detect"
    annotation_format: AnnotationFormatName = "auto"
    backbone: BackboneSource
    train: str = Field(min_length=1, max_length=4096)
    val: str = Field(min_length=1, max_length=4096)
    unlabeled: str | None = Field(None, min_length=1, max_length=4096)

    @field_validator("backbone")
    @classmethod
    def _learned_backbone(cls, backbone: BackboneSource) -> BackboneSource:
        if backbone.architecture == "raw_pixels":
            raise ValueError("detection needs a learned backbone: raw pixels have no "
                             "feature pyramid; give a checkpoint or a random-init network")
        return backbone
