"""Each method's published recipe, applied to the fields a user left out.

``resolve_pretrain_config`` turns a partial ``PretrainConfig`` into a complete one. Numbers
follow the papers: MoCo v2 (Chen et al. 2020), MoCo v3 (Chen, Xie, He 2021), MoBY (Xie et al.
2021), BYOL's asymmetric augmentations (Grill et al. 2020), ReLIC (Mitrovic et al. 2021).
Torch-free.
"""

from __future__ import annotations

from engine.errors import JobConfigError
from engine.schemas.backbones import BACKBONE_SPECS, TRANSFORMER_BACKBONES
from engine.schemas.pretrain import CropConfig, PretrainConfig, ViewAugmentConfig

SMALL_INPUT_MAX_SIZE = 96
# A ResNet keeps its published stem from this input size up: at 64 px the small-input stem
# (3x3 stride 1, no max-pool) costs about 8 times the compute per image (21 against 165
# images/s on a 2-core CPU) and a 20-minute CPU budget then buys too few epochs to learn,
# while the standard stem learned NEU-DET to 0.98 kNN in the same budget (docs/benchmarks.md
# section 4). Below it the maps would shrink to nothing (a 32 px image: 1x1 after layer4).
RESNET_STANDARD_STEM_MIN_SIZE = 64


REFERENCE_IMAGE_SIZE = 224


def blur_sigma(image_size: int) -> tuple[float, float]:
    """The papers' blur sigma, (0.1, 2.0) px at 224 px, scaled to the network input.

    The recipes blur in pixels of a 224 px view; applied unscaled to a 96 px view the same
    sigma would wipe out 2.3x more of the image's detail, fine defect texture first.
    """
    scale = image_size / REFERENCE_IMAGE_SIZE
    return (0.1 * scale, 2.0 * scale)


def mocov2_view(image_size: int = REFERENCE_IMAGE_SIZE) -> ViewAugmentConfig:
    """MoCo v2's augmentation, the same for both views."""
    return ViewAugmentConfig(
        brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, blur_prob=0.5,
        blur_sigma=blur_sigma(image_size), solarize_prob=0.0,
    )


def byol_views(
    image_size: int = REFERENCE_IMAGE_SIZE,
) -> tuple[ViewAugmentConfig, ViewAugmentConfig]:
    """BYOL's asymmetric pair: view 1 always blurred; view 2 rarely blurred, sometimes
    solarized."""
    common = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1,
              "blur_sigma": blur_sigma(image_size)}
    return (
        ViewAugmentConfig(**common, blur_prob=1.0, solarize_prob=0.0),
        ViewAugmentConfig(**common, blur_prob=0.1, solarize_prob=0.2),
    )


DEFAULT_MEMORY_SIZES: dict[str, int] = {"mocov2": 65536, "moby": 4096, "hatchery": 4096}


def _resolve_memory(cfg: PretrainConfig, dataset_size: int | None) -> None:
    """Queue kind and size; an unset size is capped so keys never outnumber the images."""
    memory = cfg.memory
    if memory.kind is None:
        memory.kind = "priority" if cfg.method == "hatchery" else "fifo"
    if memory.size is None:
        size = DEFAULT_MEMORY_SIZES[cfg.method]
        if dataset_size is not None:
            whole_batches = dataset_size - dataset_size % cfg.batch_size
            size = min(size, max(cfg.batch_size, whole_batches))
        memory.size = size
    if memory.max_age is None:
        # Twice the time a key would live in a FIFO queue of the same size; a one-direction
        # (split) step puts half a batch of keys into each memory.
        one_direction = cfg.method in ("moby", "hatchery") and not cfg.loss.symmetric
        keys_per_step = max(1, cfg.batch_size // 2 if one_direction else cfg.batch_size)
        memory.max_age = max(1, 2 * memory.size // keys_per_step)


def resolve_pretrain_config(
    config: PretrainConfig, dataset_size: int | None = None, device_type: str | None = None
) -> PretrainConfig:
    """Return a copy with every ``None``/``"auto"`` recipe field filled in.

    ``dataset_size`` (images found) caps an unset memory size so keys never outnumber images.
    ``device_type`` ("cpu", "cuda"; None when not yet known) lets ``hatchery`` plan its loss
    directions for the compute at hand. The runtime's device-dependent fields (precision,
    channels_last) stay "auto" until the trainer resolves them. Resolving a resolved config
    changes nothing.
    """
    cfg = config.model_copy(deep=True)
    _resolve_backbone(cfg)
    _resolve_heads(cfg)
    _resolve_loss_and_momentum(cfg, device_type)
    if cfg.method == "mocov3":
        if cfg.memory.kind is not None or cfg.memory.size is not None:
            raise JobConfigError("memory", "mocov3 contrasts within the batch and uses no "
                                 "memory: leave memory out")
    else:
        _resolve_memory(cfg, dataset_size)
    _resolve_optimizer(cfg)
    _resolve_augmentations(cfg)
    _resolve_local_crops(cfg)
    return cfg


def _is_transformer(cfg: PretrainConfig) -> bool:
    return cfg.backbone.name in TRANSFORMER_BACKBONES


def _resolve_backbone(cfg: PretrainConfig) -> None:
    backbone = cfg.backbone
    if backbone.small_input == "auto":
        if _is_transformer(cfg):
            backbone.small_input = cfg.data.image_size <= SMALL_INPUT_MAX_SIZE
        else:
            backbone.small_input = cfg.data.image_size < RESNET_STANDARD_STEM_MIN_SIZE
    if backbone.patch_size is None:
        if backbone.name == "swin_tiny":
            backbone.patch_size = 2 if backbone.small_input else 4
        else:
            backbone.patch_size = 8 if backbone.small_input else 16
    if backbone.drop_path is None:
        # Drop-path regularizes the online branch of MoBY-style methods (0.1 ViT-S, 0.2 Swin-T).
        uses_drop_path = _is_transformer(cfg) and cfg.method in ("moby", "hatchery")
        rate = 0.2 if backbone.name == "swin_tiny" else 0.1
        backbone.drop_path = rate if uses_drop_path else 0.0


def _resolve_heads(cfg: PretrainConfig) -> None:
    heads = cfg.heads
    if cfg.method == "mocov2":  # fc-ReLU-fc to 128 on the backbone's width
        heads.hidden_dim = heads.hidden_dim or BACKBONE_SPECS[cfg.backbone.name].feature_dim
        heads.out_dim = heads.out_dim or 128
        heads.projector_layers = heads.projector_layers or 2
        if heads.predictor_layers is None:
            heads.predictor_layers = 0
        return
    heads.hidden_dim = heads.hidden_dim or 4096
    heads.out_dim = heads.out_dim or 256
    heads.projector_layers = heads.projector_layers or (3 if cfg.method == "mocov3" else 2)
    if heads.predictor_layers is None:
        heads.predictor_layers = 2


def _resolve_loss_and_momentum(cfg: PretrainConfig, device_type: str | None) -> None:
    method = cfg.method
    if cfg.loss.temperature is None:
        # MoCo v3 uses T = 1.0 for ResNets and 0.2 for ViTs; the others 0.2.
        resnet_v3 = method == "mocov3" and not _is_transformer(cfg)
        cfg.loss.temperature = 1.0 if resnet_v3 else 0.2
    if cfg.loss.relic_alpha is None:
        cfg.loss.relic_alpha = 1.0 if method == "hatchery" else 0.0
    if cfg.loss.symmetric is None:
        # MoCo v2's loss is one-sided by design; MoCo v3 and MoBY predict both ways. Ours
        # does too, except on a CPU, where compute bounds every run: one direction per image
        # buys 1.7x the steps in the same time; in 20 minutes that learned 1.2 points more
        # where steps were scarce (fp32) and within 0.4 where they were not (bf16) --
        # docs/benchmarks.md, learning check runs I and K-M.
        cfg.loss.symmetric = method != "mocov2" and not (
            method == "hatchery" and device_type == "cpu")
    _resolve_dense(cfg)
    if cfg.momentum.base is None:
        cfg.momentum.base = 0.999 if method == "mocov2" else 0.99
    if cfg.momentum.schedule is None:
        cfg.momentum.schedule = "constant" if method == "mocov2" else "cosine"


# The stage a local objective trains by default, per family: ResNet's layer3 and Swin's third
# stage (stride 16 of the input, the maps PatchCore reads), a ViT's middle block.
DENSE_STAGES: dict[str, int] = {"resnet": 3, "swin": 3, "vit": 1}
# feature_maps() length per family (engine/backbones): the stages a local objective can train.
STAGE_COUNTS: dict[str, int] = {"resnet": 4, "swin": 4, "vit": 2}


def _resolve_dense(cfg: PretrainConfig) -> None:
    loss, family = cfg.loss, BACKBONE_SPECS[cfg.backbone.name].family
    loss.dense_weight = _moby_term_weight(cfg, "dense_weight", "the local objective")
    loss.defect_weight = _moby_term_weight(cfg, "defect_weight", "synthetic defects")
    if loss.global_weight != 1:
        _require_moby(cfg, "loss.global_weight", "weighing the global term", neutral="1")
    if loss.global_weight == 0 and not (loss.dense_weight or loss.defect_weight):
        raise JobConfigError("loss.global_weight", "0 leaves nothing to learn: turn on the "
                             "local objective (loss.dense_weight) or synthetic defects "
                             "(loss.defect_weight)")
    if loss.dense_stage is None:
        loss.dense_stage = DENSE_STAGES[family]
    if loss.dense_stage > STAGE_COUNTS[family]:
        raise JobConfigError("loss.dense_stage", f"{cfg.backbone.name} has "
                             f"{STAGE_COUNTS[family]} stages, not {loss.dense_stage}")
    if loss.defect_sizes is None:
        side = cfg.data.image_size
        loss.defect_sizes = (max(2.0, side / 16), max(4.0, side / 4))
    low, high = loss.defect_sizes
    if not 1 <= low <= high:
        raise JobConfigError("loss.defect_sizes", "needs 1 <= smallest <= largest (view "
                             f"pixels), got {low:g} and {high:g}")


def _resolve_local_crops(cfg: PretrainConfig) -> None:
    """Local crops' size and cut: half the global view, sides of 1 to 1.5 times that in
    native pixels (multi-crop trains with moby and hatchery only)."""
    local = cfg.augment.local_crops
    if local.count == 0:
        return
    _require_moby(cfg, "augment.local_crops.count", "multi-crop")
    if local.size is None:
        local.size = max(16, cfg.data.image_size // 2)
    if local.crop is None:
        local.crop = CropConfig(unit="pixels", scale=(local.size, 1.5 * local.size))


def _moby_term_weight(cfg: PretrainConfig, field: str, term: str) -> float:
    """``loss.<field>`` resolved (unset: 0) for a term only MoBY-based methods train."""
    weight = getattr(cfg.loss, field) or 0.0
    if weight > 0:
        _require_moby(cfg, f"loss.{field}", term)
    return weight


def _require_moby(cfg: PretrainConfig, field: str, term: str, neutral: str = "0") -> None:
    """Refuse ``field`` turning on ``term`` for a method other than moby or hatchery; the
    message says to leave it at ``neutral``, the value that changes nothing."""
    if cfg.method not in ("moby", "hatchery"):
        raise JobConfigError(field, f"{term} trains with moby and hatchery, not "
                             f"{cfg.method}: use one of them or leave it {neutral}")


def _resolve_optimizer(cfg: PretrainConfig) -> None:
    """SGD for MoCo v2, LARS for MoCo v3 ResNets, AdamW for ViTs, SGD for MoBY ResNets."""
    optim, method = cfg.optim, cfg.method
    if optim.name is None:
        if method == "mocov2":
            optim.name = "sgd"
        elif _is_transformer(cfg):
            optim.name = "adamw"
        else:
            optim.name = "lars" if method == "mocov3" else "sgd"
    v3_adamw = method == "mocov3" and optim.name == "adamw"
    if optim.base_lr is None:
        base_lrs = {"sgd": 0.03 if method == "mocov2" else 0.06, "lars": 0.3, "adamw": 5e-4}
        optim.base_lr = 1.5e-4 if v3_adamw else base_lrs[optim.name]
    if optim.weight_decay is None:
        decays = {"sgd": 1e-4, "lars": 1e-6, "adamw": 0.05}
        optim.weight_decay = 0.1 if v3_adamw else decays[optim.name]


def _resolve_augmentations(cfg: PretrainConfig) -> None:
    augment = cfg.augment
    if augment.view1 is not None and augment.view2 is not None:
        return
    size = cfg.data.image_size
    views = (mocov2_view(size), mocov2_view(size)) if cfg.method == "mocov2" else byol_views(size)
    augment.view1 = augment.view1 or views[0]
    augment.view2 = augment.view2 or views[1]
