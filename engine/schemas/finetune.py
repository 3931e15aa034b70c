"""Configurations of the downstream models: good-only anomaly detection (PatchCore) and
few-label classification. Torch-free; the CLI reads them from flags, the platform's
``finetune`` jobs from their config.

Each task has its *settings* (how the model learns: ``AnomalySettings``,
``ClassifySettings``) and its *config*: the settings plus where the backbone and the images
come from (folders for the engine). A platform job (``FinetuneJobConfig``,
engine/schemas/downstream_jobs.py) names dataset versions instead of folders and carries the
settings of its task as they are.

The backbone comes from a pretrain checkpoint, or — for the baselines every quality claim is
measured against — is a randomly initialized network of a named architecture.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from engine.schemas.backbones import BACKBONES
from engine.schemas.eval import Device
from engine.schemas.types import MAX_SEED, Bool, Float, Int, StrictModel

# A random-init backbone of these, or the raw pixels themselves (the baselines).
BaselineName = Literal[(*BACKBONES, "raw_pixels")]  # type: ignore[valid-type]


class BackboneSource(StrictModel):
    """Where the features come from: a pretrain ``checkpoint`` (path, or in the platform a
    ``job://<id>`` reference), or a baseline: random weights of ``architecture``, or
    ``raw_pixels``."""

    checkpoint: str | None = Field(None, min_length=1, max_length=4096)
    architecture: BaselineName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BackboneSource:
        if (self.checkpoint is None) == (self.architecture is None):
            raise ValueError("give a checkpoint or a random-init architecture, not both")
        return self


class AnomalySettings(StrictModel):
    """PatchCore (Roth et al. 2022) on the backbone's middle stages, from good parts only.

    Images are scaled by ``input_scale`` (network pixels per native pixel; ``None``: the
    scale the backbone was pretrained at, 1.0 for a random-init one) and scored whole, or in
    overlapping tiles of ``tile`` network pixels when larger, so a small pit is not averaged
    away. The memory bank keeps a greedy coreset of the good parts' patch features."""

    input_scale: Float | None = Field(None, gt=0, le=4)
    tile: Int = Field(1024, ge=64, le=4096)
    # patches kept per good image before the coreset (a random draw), and the coreset's size
    # at most. 512 is what docs/benchmarks.md measured: 2048 cost the coreset 4x the time on
    # KolektorSDD for lower figures there and +2 image AUROC on one generated seed (session
    # 29's entry)
    patches_per_image: Int = Field(512, ge=16, le=1_000_000)
    bank_size: Int = Field(8192, ge=16, le=1_000_000)
    neighbourhood: Int = Field(3, ge=1, le=9)
    # standardize each image by its own gray levels: lighting that varies is no anomaly
    even_lighting: Bool = True
    # re-estimate the backbone's BatchNorm statistics on the good parts, as the model sees
    # them (engine/downstream/normalization.py; no weight changes). None: a random-init
    # backbone's only, whose statistics were never estimated on anything
    fit_normalization: Bool | None = None
    # no labeled defects: the threshold is this quantile of held-out good parts' scores
    good_quantile: Float = Field(0.99, ge=0.5, le=1)
    device: Device = "auto"
    seed: Int = Field(0, ge=0, le=MAX_SEED)


class AnomalyConfig(AnomalySettings):
    """PatchCore's settings and its images: ``good`` parts to learn from; ``val_good`` and
    ``val_defect`` to measure on and set the threshold with; ``masks`` of the defects."""

    backbone: BackboneSource
    good: str = Field(min_length=1, max_length=4096)
    val_good: str | None = Field(None, min_length=1, max_length=4096)
    val_defect: str | None = Field(None, min_length=1, max_length=4096)
    masks: str | None = Field(None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _validation_pair(self) -> AnomalyConfig:
        if (self.val_good is None) != (self.val_defect is None):
            raise ValueError("val_good and val_defect go together")
        if self.masks is not None and self.val_defect is None:
            raise ValueError("masks belong to val_defect: give val_good and val_defect")
        return self


ClassifyMethod = Literal["linear", "supervised", "fixmatch"]
ThresholdKind = Literal["fixed", "flexible"]  # FixMatch's pseudo-label bars
StrongViewKind = Literal["shared_crop", "own_crop"]  # where FixMatch's strong view is cut


class ClassifySettings(StrictModel):
    """Few-label classification.

    ``linear``: a probe on frozen features (seconds on a CPU). ``fixmatch``: FixMatch (Sohn
    et al. 2020) on the pretrained backbone: weak and strong views of unlabeled images,
    pseudo-labels above per-class bars up to ``confidence`` (FlexMatch), an EMA model,
    class-balanced sampling of the few labels. ``supervised``: the labels alone on a
    random-init backbone, so the gain of pretraining is always visible."""

    method: ClassifyMethod = "fixmatch"
    image_size: Int | None = Field(None, ge=16, le=1024)  # None: the backbone's recipe
    # 600: FixMatch on NEU-DET at 10 labels per class rose from 0.791 to 0.849 balanced
    # accuracy over 300 (three seeds), the labels alone from 0.736 to 0.760
    # (docs/benchmarks.md, session 32)
    steps: Int = Field(600, ge=1, le=1_000_000)
    batch_size: Int = Field(32, ge=2, le=4096)
    unlabeled_ratio: Int = Field(4, ge=1, le=16)  # FixMatch's mu
    confidence: Float = Field(0.95, ge=0, le=1)
    # flexible: FlexMatch's per-class bars, up to ``confidence`` (NEU-DET at 10 labels per
    # class, three seeds: +1.5, +2.8, +3.0 balanced accuracy; docs/benchmarks.md, session 31);
    # fixed: one bar, ``confidence``
    thresholds: ThresholdKind = "flexible"
    # shared_crop: the strong view recolors the weak view's crop, so it shows the defect the
    # pseudo-label was read from; own_crop: a crop of its own, which can miss a small defect
    strong_view: StrongViewKind = "shared_crop"
    unlabeled_weight: Float = Field(1.0, ge=0, le=100)
    learning_rate: Float = Field(0.03, gt=0, le=10)
    weight_decay: Float = Field(5e-4, ge=0, le=1)
    ema: Float = Field(0.999, ge=0, lt=1)
    device: Device = "auto"
    seed: Int = Field(0, ge=0, le=MAX_SEED)


class ClassifyConfig(ClassifySettings):
    """The classifier's settings and its images: ``labeled`` (one sub-folder per class),
    ``unlabeled`` (FixMatch), ``val`` (labeled, the same classes) to measure on."""

    backbone: BackboneSource
    labeled: str = Field(min_length=1, max_length=4096)
    unlabeled: str | None = Field(None, min_length=1, max_length=4096)
    val: str | None = Field(None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _method_needs(self) -> ClassifyConfig:
        if self.method == "fixmatch" and self.unlabeled is None:
            raise ValueError("fixmatch learns from unlabeled images too: give unlabeled")
        return self


# A part is good or defective by its item's ``is_defect`` flag; where that is unset, an image
# of class ``good`` is a good part and one of any other class a defective part (its kind).
GOOD_CLASS = "good"
Condition = Literal["good", "defect"]


def part_condition(class_name: str | None, is_defect: bool | None) -> Condition | None:
    """Whether a labeled image shows a good or a defective part; None when unknown."""
    if is_defect is not None:
        return "defect" if is_defect else "good"
    if class_name:
        return "good" if class_name == GOOD_CLASS else "defect"
    return None
