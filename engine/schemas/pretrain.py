"""The pretrain job's configuration: one schema for the CLI's YAML, the REST body and the worker.

Torch-free on purpose: the API imports it to validate requests without loading torch.

Every field a user may leave out is ``None`` (or ``"auto"``) here and gets its value from
``resolve_pretrain_config``: the method's published recipe, adapted to the backbone and the
data. The resolved config is what a run writes to ``config.yaml``, so a run is reproducible
from that file alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from engine.schemas.backbones import BACKBONES
from engine.schemas.types import MAX_SEED, MAX_STEPS, Bool, Float, Int, StrictModel

Method = Literal["mocov2", "mocov3", "moby", "hatchery"]
BackboneName = Literal[BACKBONES]  # type: ignore[valid-type]  # the names of BACKBONE_SPECS
Stem = Literal["patchify", "conv"]
MemoryKind = Literal["fifo", "priority"]
OptimizerName = Literal["sgd", "lars", "adamw"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
BatchNormLeakFix = Literal["auto", "shuffle", "split", "none"]

METHODS: tuple[str, ...] = ("mocov2", "mocov3", "moby", "hatchery")


def _gray_or_color(channels: int) -> int:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray), 3 (color) or \"auto\", not {channels}")
    return channels


Channels = Annotated[Int, AfterValidator(_gray_or_color)]


class CropConfig(StrictModel):
    """Random-resized-crop cut from the image at its native resolution.

    ``unit="fraction"``: the crop covers ``scale`` of the image area (torchvision semantics).
    ``unit="pixels"``: the crop side is drawn from ``scale`` in native pixels, so a 64 px
    network input can show a hairline crack at full resolution.
    """

    unit: Literal["fraction", "pixels"] = "fraction"
    # pixels: at most a 100,000 px side; fractions: at most the whole image
    scale: tuple[Float, Float] = (0.2, 1.0)
    ratio: tuple[Float, Float] = (3 / 4, 4 / 3)

    @model_validator(mode="after")
    def _check_ranges(self) -> CropConfig:
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"crop.scale must satisfy 0 < min <= max, got {self.scale}")
        if self.unit == "fraction" and high > 1:
            raise ValueError(f"crop.scale is a fraction of the area: max must be <= 1, not {high}")
        if high > 100_000:
            raise ValueError(f"crop.scale in pixels must be at most 100000, not {high}")
        if not 0 < self.ratio[0] <= self.ratio[1] <= 100:
            raise ValueError(f"crop.ratio must satisfy 0 < min <= max, got {self.ratio}")
        return self


class ViewAugmentConfig(StrictModel):
    """Photometric augmentation of one view; geometric ones are shared in ``AugmentConfig``."""

    color_jitter_prob: Float = Field(0.8, ge=0, le=1)
    brightness: Float = Field(0.4, ge=0, le=10)
    contrast: Float = Field(0.4, ge=0, le=10)
    saturation: Float = Field(0.4, ge=0, le=10)
    hue: Float = Field(0.1, ge=0, le=0.5)
    grayscale_prob: Float = Field(0.2, ge=0, le=1)
    blur_prob: Float = Field(0.5, ge=0, le=1)
    # Gaussian sigma in pixels of the network input
    blur_sigma: tuple[Float, Float] = (0.1, 2.0)
    solarize_prob: Float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check_blur(self) -> ViewAugmentConfig:
        low, high = self.blur_sigma
        if not 0 < low <= high <= 100:
            raise ValueError(
                f"blur_sigma must satisfy 0 < min <= max <= 100, got {self.blur_sigma}")
        return self


class LocalCropsConfig(StrictModel):
    """Multi-crop (SwAV, DINO): ``count`` small extra views of each image, cut at about
    native resolution, that the online branch alone encodes; each predicts the target keys
    of the image's two global views (moby and hatchery only; 0: off).

    ``size``: side of their network input (unset: half of ``data.image_size``, at least 16);
    ``crop``: how they are cut (unset: sides of ``size`` to 1.5 x ``size`` native pixels, so
    a local view shows the surface at or near its real scale).
    """

    count: Int = Field(0, ge=0, le=16)
    size: Int | None = Field(None, ge=16, le=1024)
    crop: CropConfig | None = None


class AugmentConfig(StrictModel):
    """Two-view augmentation, run batched on the training device."""

    crop: CropConfig = Field(default_factory=CropConfig)
    hflip_prob: Float = Field(0.5, ge=0, le=1)
    # Parts on a conveyor have no canonical up: vertical flips and 90-degree turns are label-safe.
    vflip_prob: Float = Field(0.0, ge=0, le=1)
    rotate90: Bool = False
    view1: ViewAugmentConfig | None = None
    view2: ViewAugmentConfig | None = None
    local_crops: LocalCropsConfig = Field(default_factory=LocalCropsConfig)
    # View 2 cut from another shot of the same physical part (``data.groups``: the same part
    # under another lighting, image of the same size) with this probability, so the pair
    # shares what the part is and differs in the lighting (off in plans: it lowered anomaly
    # AUROC, docs/benchmarks.md section 8).
    other_shot_prob: Float = Field(0.0, ge=0, le=1)
    # View 2's crop placed where it shares at least this fraction of the shorter side with
    # view 1's crop along each axis, so the pair shows one place of the image (None: placed
    # independently, as SimCLR and MoCo do; with small crops of a large image the two then
    # often share nothing, and the global objective can only match the part, not the place).
    view_overlap: Float | None = Field(None, ge=0, le=1)


class DataConfig(StrictModel):
    path: str = Field(min_length=1, max_length=4096)
    image_size: Int = Field(64, ge=16, le=1024)
    channels: Literal["auto"] | Channels = "auto"
    # Keep decoded images in RAM when they fit ("auto": under 2 GiB): later epochs decode nothing.
    cache_decoded: Literal["auto"] | Bool = "auto"
    workers: Int | None = Field(None, ge=0, le=64)
    # Batches of images of similar size (engine/data/sampler.py), so a padded batch wastes
    # little; "auto": when the images' areas differ by more than a quarter.
    bucket_by_size: Literal["auto"] | Bool = "auto"
    # ``hatchery analyze``'s groups file (path,group; paths relative to ``path``): which
    # images are shots of one physical part (``augment.other_shot_prob`` and
    # ``memory.exclude_own_keys`` read it)
    groups: str | None = Field(None, min_length=1, max_length=4096)


class BackboneConfig(StrictModel):
    name: BackboneName = "resnet18"
    stem: Stem = "patchify"
    # Small-input variant (3x3 stem, no max-pool; patch 8 for ViTs). "auto": ResNets below
    # 64 px (from 64 px up the published stem, 8x cheaper), transformers up to 96 px.
    small_input: Literal["auto"] | Bool = "auto"
    patch_size: Int | None = Field(None, ge=2, le=32)
    drop_path: Float | None = Field(None, ge=0, lt=1)
    # MoCo v3's trick for stable ViT training: a frozen random patch projection.
    freeze_patch_embed: Bool = False


class HeadConfig(StrictModel):
    hidden_dim: Int | None = Field(None, ge=8, le=16384)
    out_dim: Int | None = Field(None, ge=8, le=4096)
    projector_layers: Int | None = Field(None, ge=1, le=4)
    predictor_layers: Int | None = Field(None, ge=0, le=4)


class MemoryConfig(StrictModel):
    """Where negatives come from: a FIFO queue (MoCo) or the prioritized sum-tree memory.

    Priority semantics: each key's priority is its contrastive-loss contribution (the softmax
    mass the queries put on it). ``sampling="proportional"`` draws ``num_samples`` keys with
    P(j) ~ priority^a and corrects with importance weights (K·P(j))^-beta; ``"all"`` uses every
    key with the expected weight of that estimator, (K·P(j))^(1-beta). beta = 1 is plain InfoNCE.
    """

    kind: MemoryKind | None = None
    size: Int | None = Field(None, ge=1, le=1_048_576)
    sampling: Literal["all", "proportional"] = "all"
    num_samples: Int = Field(1024, ge=1, le=1_048_576)
    priority_exponent: Float = Field(0.5, ge=0, le=1)
    importance_beta: Float = Field(0.5, ge=0, le=1)
    max_age: Int | None = Field(None, ge=1, le=MAX_STEPS)
    # moby, hatchery: a query meets no key of its own image (or, with data.groups, of its
    # physical part) as a negative; a small data set's memory holds keys of nearly every
    # image (off: no consistent effect on anomaly AUROC, docs/benchmarks.md section 8)
    exclude_own_keys: Bool = False


class LossConfig(StrictModel):
    """``symmetric`` (moby, hatchery): every view is predicted from the other (two online and
    two target passes per step), or, when false, each image trains one direction (half the
    passes, so nearly twice the steps in the same time)."""

    # below 0.005 the logits overflow even in fp32
    temperature: Float | None = Field(None, ge=0.005, le=10)
    relic_alpha: Float | None = Field(None, ge=0, le=100)
    symmetric: Bool | None = None
    # moby, hatchery: weight of the global objective (InfoNCE against the memories, plus
    # ReLIC) in the total loss; 0 trains the local terms alone (dense, defects)
    global_weight: Float = Field(1.0, ge=0, le=100)
    # The local objective (engine/ssl/dense.py): weight of the pixel-level contrast between
    # overlapping views in the total loss (0: off; moby and hatchery only), points sampled
    # per image, and the backbone stage whose map it trains (1-based, shallow to deep;
    # unset: the middle stage that PatchCore and the detectors read).
    dense_weight: Float | None = Field(None, ge=0, le=100)
    # consistency: BYOL's loss at each point; contrast: InfoNCE against the other points
    dense_kind: Literal["consistency", "contrast"] = "consistency"
    dense_points: Int = Field(32, ge=1, le=1024)
    dense_stage: Int | None = Field(None, ge=1, le=4)
    # Synthetic defects (engine/ssl/defects.py): weight of the subtask that paints blemishes
    # into views of good parts and segments them from the maps of stage ``dense_stage`` and
    # the next one (0: off; moby and hatchery only), and the blemishes' lengths in view
    # pixels (unset: a sixteenth to a quarter of the view's side).
    defect_weight: Float | None = Field(None, ge=0, le=100)
    defect_sizes: tuple[Float, Float] | None = None
    # what a blemish may show: shift (brighter or darker), foreign (another image's
    # surface), grain (noise)
    defect_content: tuple[Literal["shift", "foreign", "grain"], ...] = Field(
        ("shift", "foreign", "grain"), min_length=1)


class MomentumConfig(StrictModel):
    base: Float | None = Field(None, ge=0, le=1)
    schedule: Literal["cosine", "constant"] | None = None


class OptimConfig(StrictModel):
    name: OptimizerName | None = None
    # Learning rate for a batch of 256; scaled linearly with the real batch size.
    base_lr: Float | None = Field(None, gt=0, le=10)
    weight_decay: Float | None = Field(None, ge=0, le=1)
    momentum: Float = Field(0.9, ge=0, lt=1)
    warmup_fraction: Float = Field(0.05, ge=0, lt=1)
    clip_grad_norm: Float | None = Field(None, gt=0, le=1e6)


class RuntimeConfig(StrictModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Precision = "auto"
    channels_last: Literal["auto"] | Bool = "auto"
    compile: Bool = False
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    checkpoint_every: Int = Field(500, ge=1, le=MAX_STEPS)
    log_every: Int = Field(10, ge=1, le=MAX_STEPS)
    batchnorm_leak_fix: BatchNormLeakFix = "auto"
    bn_splits: Int = Field(4, ge=1, le=64)
    # A run whose loss stays NaN or infinite this many steps in a row stops as failed.
    max_nonfinite_steps: Int = Field(20, ge=1, le=10_000)


class KnnMonitorConfig(StrictModel):
    """kNN evaluation during pretraining: the number that tells whether pretraining helps."""

    train: str | None = Field(None, min_length=1, max_length=4096)
    test: str | None = Field(None, min_length=1, max_length=4096)
    every: Int = Field(200, ge=1, le=MAX_STEPS)


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
    # images per step on each GPU (or on the CPU)
    batch_size: Int = Field(128, ge=2, le=8192)
    epochs: Float | None = Field(None, gt=0, le=100_000)
    steps: Int | None = Field(None, ge=1, le=MAX_STEPS)

    @model_validator(mode="after")
    def _one_length(self) -> PretrainConfig:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either epochs or steps, not both")
        if (self.eval.train is None) != (self.eval.test is None):
            raise ValueError("eval.train and eval.test go together")
        return self
