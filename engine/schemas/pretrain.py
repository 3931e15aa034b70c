"""The pretrain job's configuration: one schema for the CLI's YAML, the REST body and the worker.

Torch-free on purpose: the API imports it to validate requests without loading torch.

Every field a user may leave out is ``None`` (or ``"auto"``) here and gets its value from
``resolve_pretrain_config``: the method's published recipe, adapted to the backbone and the
data. The resolved config is what a run writes to ``config.yaml``, so a run is reproducible
from that file alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["mocov2", "mocov3", "moby", "hatchery"]
BackboneName = Literal[
    "resnet18", "resnet50", "vit_small", "vit_base", "deit_small", "swin_tiny"
]
Stem = Literal["patchify", "conv"]
MemoryKind = Literal["fifo", "priority"]
OptimizerName = Literal["sgd", "lars", "adamw"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
BatchNormLeakFix = Literal["auto", "shuffle", "split", "none"]

METHODS: tuple[str, ...] = ("mocov2", "mocov3", "moby", "hatchery")
BACKBONES: tuple[str, ...] = (
    "resnet18", "resnet50", "vit_small", "vit_base", "deit_small", "swin_tiny"
)
TRANSFORMER_BACKBONES: frozenset[str] = frozenset(
    {"vit_small", "vit_base", "deit_small", "swin_tiny"}
)


class StrictModel(BaseModel):
    """Base for every schema: unknown keys are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CropConfig(StrictModel):
    """Random-resized-crop cut from the image at its native resolution.

    ``unit="fraction"``: the crop covers ``scale`` of the image area (torchvision semantics).
    ``unit="pixels"``: the crop side is drawn from ``scale`` in native pixels, so a 64 px
    network input can show a hairline crack at full resolution.
    """

    unit: Literal["fraction", "pixels"] = "fraction"
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    @model_validator(mode="after")
    def _check_ranges(self) -> CropConfig:
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"crop.scale must satisfy 0 < min <= max, got {self.scale}")
        if self.unit == "fraction" and high > 1:
            raise ValueError(f"crop.scale is a fraction of the area: max must be <= 1, not {high}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"crop.ratio must satisfy 0 < min <= max, got {self.ratio}")
        return self


class ViewAugmentConfig(StrictModel):
    """Photometric augmentation of one view; geometric ones are shared in ``AugmentConfig``."""

    color_jitter_prob: float = Field(0.8, ge=0, le=1)
    brightness: float = Field(0.4, ge=0)
    contrast: float = Field(0.4, ge=0)
    saturation: float = Field(0.4, ge=0)
    hue: float = Field(0.1, ge=0, le=0.5)
    grayscale_prob: float = Field(0.2, ge=0, le=1)
    blur_prob: float = Field(0.5, ge=0, le=1)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = Field(0.0, ge=0, le=1)


class AugmentConfig(StrictModel):
    """Two-view augmentation, run batched on the training device."""

    crop: CropConfig = Field(default_factory=CropConfig)
    hflip_prob: float = Field(0.5, ge=0, le=1)
    # Parts on a conveyor have no canonical up: vertical flips and 90-degree turns are label-safe.
    vflip_prob: float = Field(0.0, ge=0, le=1)
    rotate90: bool = False
    view1: ViewAugmentConfig | None = None
    view2: ViewAugmentConfig | None = None


class DataConfig(StrictModel):
    path: str
    image_size: int = Field(64, ge=16, le=1024)
    channels: Literal["auto", 1, 3] = "auto"
    # Keep decoded images in RAM when they fit ("auto": under 2 GiB): later epochs decode nothing.
    cache_decoded: Literal["auto"] | bool = "auto"
    workers: int | None = Field(None, ge=0, le=64)


class BackboneConfig(StrictModel):
    name: BackboneName = "resnet18"
    stem: Stem = "patchify"
    # Small-input variant (3x3 stem, no max-pool; patch 8 for ViTs): "auto" = image_size <= 96.
    small_input: Literal["auto"] | bool = "auto"
    patch_size: int | None = Field(None, ge=2, le=32)
    drop_path: float | None = Field(None, ge=0, lt=1)
    # MoCo v3's trick for stable ViT training: a frozen random patch projection.
    freeze_patch_embed: bool = False


class HeadConfig(StrictModel):
    hidden_dim: int | None = Field(None, ge=8)
    out_dim: int | None = Field(None, ge=8)
    projector_layers: int | None = Field(None, ge=1, le=4)
    predictor_layers: int | None = Field(None, ge=0, le=4)


class MemoryConfig(StrictModel):
    """Where negatives come from: a FIFO queue (MoCo) or the prioritized sum-tree memory.

    Priority semantics: each key's priority is its contrastive-loss contribution (the softmax
    mass the queries put on it). ``sampling="proportional"`` draws ``num_samples`` keys with
    P(j) ~ priority^a and corrects with importance weights (K·P(j))^-beta; ``"all"`` uses every
    key with the expected weight of that estimator, (K·P(j))^(1-beta). beta = 1 is plain InfoNCE.
    """

    kind: MemoryKind | None = None
    size: int | None = Field(None, ge=1)
    sampling: Literal["all", "proportional"] = "all"
    num_samples: int = Field(1024, ge=1)
    priority_exponent: float = Field(0.5, ge=0, le=1)
    importance_beta: float = Field(0.5, ge=0, le=1)
    max_age: int | None = Field(None, ge=1)


class LossConfig(StrictModel):
    """``symmetric`` (moby, hatchery): every view is predicted from the other (two online and
    two target passes per step), or, when false, each image trains one direction (half the
    passes, so nearly twice the steps in the same time)."""

    temperature: float | None = Field(None, gt=0)
    relic_alpha: float | None = Field(None, ge=0)
    symmetric: bool | None = None


class MomentumConfig(StrictModel):
    base: float | None = Field(None, ge=0, le=1)
    schedule: Literal["cosine", "constant"] | None = None


class OptimConfig(StrictModel):
    name: OptimizerName | None = None
    # Learning rate for a batch of 256; scaled linearly with the real batch size.
    base_lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    clip_grad_norm: float | None = Field(None, gt=0)


class RuntimeConfig(StrictModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Precision = "auto"
    channels_last: Literal["auto"] | bool = "auto"
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)
    log_every: int = Field(10, ge=1)
    batchnorm_leak_fix: BatchNormLeakFix = "auto"
    bn_splits: int = Field(4, ge=1)


class KnnMonitorConfig(StrictModel):
    """kNN evaluation during pretraining: the number that tells whether pretraining helps."""

    train: str | None = None
    test: str | None = None
    every: int = Field(200, ge=1)


class PretrainConfig(StrictModel):
    """Everything a pretrain run needs. ``epochs`` or ``steps`` sets its length."""

    method: Method = "hatchery"
    data: DataConfig
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    heads: HeadConfig = Field(default_factory=HeadConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    momentum: MomentumConfig = Field(default_factory=MomentumConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    eval: KnnMonitorConfig = Field(default_factory=KnnMonitorConfig)
    batch_size: int = Field(128, ge=2)
    epochs: float | None = Field(None, gt=0)
    steps: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_length(self) -> PretrainConfig:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either epochs or steps, not both")
        if (self.eval.train is None) != (self.eval.test is None):
            raise ValueError("eval.train and eval.test go together")
        return self
