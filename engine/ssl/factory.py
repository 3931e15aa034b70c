"""Build a method from a resolved ``PretrainConfig``: backbones, heads, memories, schedule.

``hatchery``, our default, is not a class of its own: it is MoBY with a ReLIC term and
priority memories, each upgrade one switch of the config (``loss.relic_alpha``,
``memory.kind``, ``momentum.schedule``, ``backbone.stem``), so every ablation is one flag.
"""

from __future__ import annotations

import torch
from torch import nn

from engine import distributed
from engine.backbones import build_backbone
from engine.backbones.base import Backbone
from engine.schemas.backbones import BACKBONE_SPECS
from engine.schemas.pretrain import MemoryConfig, PretrainConfig
from engine.schemas.recipes import STAGE_COUNTS
from engine.ssl.base import SelfSupervisedMethod
from engine.ssl.defects import DefectSegmentation, DefectSettings
from engine.ssl.dense import DenseObjective, dense_head
from engine.ssl.heads import Encoder, mlp_head
from engine.ssl.memory import FifoQueue, NegativeMemory, PriorityMemory
from engine.ssl.moby import MoBY
from engine.ssl.mocov2 import MoCoV2
from engine.ssl.mocov3 import MoCoV3
from engine.ssl.momentum import MomentumSchedule


def build_memory(config: MemoryConfig, dim: int) -> NegativeMemory:
    """A FIFO queue or a priority memory of ``config.size`` keys of dimension ``dim``."""
    if config.kind == "fifo":
        return FifoQueue(config.size, dim)
    return PriorityMemory(
        config.size,
        dim,
        sampling=config.sampling,
        num_samples=config.num_samples,
        priority_exponent=config.priority_exponent,
        importance_beta=config.importance_beta,
        max_age=config.max_age,
    )


# The local objective's heads: 1x1 convolutions run at every location of a stage's map, so
# they are kept far narrower than the global MLP (DenseCL projects to 128 as well).
DENSE_HIDDEN_DIM = 512
DENSE_OUT_DIM = 128


def _uses_dense(config: PretrainConfig) -> bool:
    return bool(config.loss.dense_weight)


def _encoders(config: PretrainConfig, in_channels: int, batch_norm_heads: bool,
              last_batch_norm: bool) -> tuple[Encoder, Encoder]:
    """Online encoder (with drop-path) and its target twin (without), not yet synchronized;
    with a dense projector on stage ``loss.dense_stage`` when the local objective is on."""
    heads = config.heads

    def encoder(drop_path: float) -> Encoder:
        backbone = build_backbone(config.backbone, in_channels, drop_path=drop_path)
        projector = mlp_head(backbone.feature_dim, heads.hidden_dim, heads.out_dim,
                             heads.projector_layers, batch_norm_heads, last_batch_norm)
        if not _uses_dense(config):
            return Encoder(backbone, projector)
        stage = config.loss.dense_stage
        stage_dim = _stage_width(backbone, stage, in_channels)
        dense_projector = dense_head(stage_dim, DENSE_HIDDEN_DIM, DENSE_OUT_DIM)
        return Encoder(backbone, projector, dense_projector, stage)

    return encoder(config.backbone.drop_path), encoder(0.0)


@torch.no_grad()
def _stage_width(backbone: Backbone, stage: int, in_channels: int) -> int:
    """Channels of stage ``stage``'s map (1-based), read off a pass over one small image."""
    was_training = backbone.training
    backbone.eval()
    maps = backbone.feature_maps(torch.zeros(1, in_channels, 64, 64))
    backbone.train(was_training)
    return maps[stage - 1].values.shape[1]


def _defect_subtask(config: PretrainConfig, backbone: Backbone, in_channels: int
                    ) -> DefectSegmentation | None:
    """The synthetic-defect subtask on stage ``loss.dense_stage`` and the next one (the two
    maps PatchCore reads), or None when ``loss.defect_weight`` is 0."""
    loss = config.loss
    if not loss.defect_weight:
        return None
    deepest = min(loss.dense_stage + 1, STAGE_COUNTS[BACKBONE_SPECS[config.backbone.name].family])
    stages = tuple(range(loss.dense_stage, deepest + 1))
    widths = [_stage_width(backbone, stage, in_channels) for stage in stages]
    settings = DefectSettings(loss.defect_weight, tuple(loss.defect_sizes), stages,
                              tuple(loss.defect_content))
    return DefectSegmentation(settings, widths)


def _predictor(config: PretrainConfig) -> nn.Module:
    heads = config.heads
    if heads.predictor_layers == 0:
        return nn.Identity()
    return mlp_head(heads.out_dim, heads.hidden_dim, heads.out_dim, heads.predictor_layers)


def _batchnorm_leak_fix(config: PretrainConfig) -> tuple[int, bool]:
    """(ghost batches per step, shuffle the key batch) for methods with a memory of keys.

    auto: shuffle-BN across ranks under DDP; shuffled ghost batches on one device.
    """
    mode = config.runtime.batchnorm_leak_fix
    if config.method == "mocov3" or mode == "none":
        return 1, False
    if mode == "auto":
        mode = "shuffle" if distributed.world_size() > 1 else "split"
    return (config.runtime.bn_splits if mode == "split" else 1), True


def build_method(
    config: PretrainConfig, in_channels: int, total_steps: int
) -> SelfSupervisedMethod:
    """The method named by ``config.method``, from a config passed through
    ``resolve_pretrain_config``, for images of ``in_channels`` channels (1 or 3) and a run of
    ``total_steps`` optimizer steps (the momentum schedule's length)."""
    schedule = MomentumSchedule(config.momentum.base, total_steps, config.momentum.schedule)
    temperature = config.loss.temperature
    if config.method == "mocov3":
        online, target = _encoders(config, in_channels, batch_norm_heads=True, last_batch_norm=True)
        return MoCoV3(online, target, _predictor(config), temperature, schedule)

    bn_splits, shuffle_keys = _batchnorm_leak_fix(config)
    batch_norm_heads = config.method != "mocov2"
    online, target = _encoders(config, in_channels, batch_norm_heads, last_batch_norm=False)
    dim = config.heads.out_dim
    if config.method == "mocov2":
        return MoCoV2(online, target, build_memory(config.memory, dim), temperature, schedule,
                      shuffle_keys=shuffle_keys, bn_splits=bn_splits)
    dense, dense_predictor = None, None
    if _uses_dense(config):
        dense = DenseObjective(config.loss.dense_weight, kind=config.loss.dense_kind,
                               points=config.loss.dense_points, temperature=temperature)
        dense_predictor = dense_head(DENSE_OUT_DIM, DENSE_HIDDEN_DIM, DENSE_OUT_DIM)
    return MoBY(
        online, target, _predictor(config),
        build_memory(config.memory, dim), build_memory(config.memory, dim),
        temperature, schedule, relic_alpha=config.loss.relic_alpha, shuffle_keys=shuffle_keys,
        bn_splits=bn_splits, symmetric=config.loss.symmetric, dense=dense,
        dense_predictor=dense_predictor,
        defects=_defect_subtask(config, online.backbone, in_channels),
        global_weight=config.loss.global_weight,
    )
