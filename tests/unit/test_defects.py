"""Synthetic defects: the painted blemishes, their cell targets, the loss, MoBY with it on."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.errors import JobConfigError
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.ssl.defects import balanced_bce, cell_targets, paint_defects
from engine.ssl.factory import build_method


def test_a_blemish_changes_only_the_pixels_its_mask_covers_and_stays_within_its_size():
    views = torch.randn(64, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    painted, masks = paint_defects(views, (4.0, 12.0), torch.Generator().manual_seed(1))
    assert painted.shape == views.shape and masks.shape == (64, 1, 48, 48)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    outside = masks == 0
    assert torch.equal(painted[outside], views[outside])
    covered = masks.flatten(1).sum(dim=1)
    assert (covered >= 1).all()  # never empty
    changed = ((painted - views).abs() > 1e-6).float() * masks
    assert changed.sum() / masks.sum() > 0.9  # the content differs where it is painted
    # a 12 px ellipse covers at most pi * 6^2 pixels; its ragged edge may widen it, but a
    # blemish stays a small part of the view
    assert covered.max() < math.pi * 6**2 * 4 < 48 * 48 / 4


def test_the_same_generator_paints_the_same_blemishes():
    views = torch.randn(8, 3, 32, 32)
    first = paint_defects(views, (3.0, 8.0), torch.Generator().manual_seed(5))
    second = paint_defects(views, (3.0, 8.0), torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_cell_targets_mark_covered_cells_and_ignore_slivers():
    masks = torch.zeros(1, 1, 16, 16)
    masks[0, 0, 0:4, 0:4] = 1  # the whole of cell (0, 0)
    masks[0, 0, 4, 4] = 1  # 1 of 16 pixels of cell (1, 1): 6% -> defective
    targets, weights = cell_targets(masks, (4, 4))
    expected = torch.zeros(4, 4)
    expected[0, 0] = expected[1, 1] = 1
    assert torch.equal(targets[0, 0], expected)
    assert torch.equal(weights[0, 0], torch.ones(4, 4))
    sliver = torch.zeros(1, 1, 32, 32)
    sliver[0, 0, 0, 0] = 1  # 1 of 64 pixels of cell (0, 0): under 5% -> ignored
    targets, weights = cell_targets(sliver, (4, 4))
    assert targets.sum() == 0 and weights[0, 0, 0, 0] == 0 and weights.sum() == 15


def test_balanced_bce_weighs_the_rare_defective_cells_as_much_as_the_clean_ones():
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0]).view(1, 1, 2, 2)
    targets = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    positive = F.softplus(torch.tensor(-2.0))
    negative = (F.softplus(torch.tensor(-1.0)) + F.softplus(torch.tensor(0.5))) / 2
    expected = (positive + negative) / 2
    assert torch.allclose(balanced_bce(logits, targets, weights), expected)


def _config(**loss) -> PretrainConfig:
    return resolve_pretrain_config(PretrainConfig.model_validate({
        "method": "hatchery", "data": {"path": ".", "image_size": 32},
        "backbone": {"name": "resnet18", "small_input": False}, "batch_size": 8,
        "memory": {"size": 16}, "heads": {"hidden_dim": 32, "out_dim": 16},
        "loss": loss}), dataset_size=16, device_type="cpu")


def test_defect_settings_resolve_from_the_view_size_and_refuse_other_methods():
    config = _config(defect_weight=1.0)
    assert config.loss.defect_sizes == (2.0, 8.0)
    assert _config().loss.defect_weight == 0.0
    with pytest.raises(JobConfigError, match=r"loss\.defect_weight"):
        resolve_pretrain_config(PretrainConfig.model_validate({
            "method": "mocov2", "data": {"path": "."}, "loss": {"defect_weight": 1.0}}))
    with pytest.raises(JobConfigError, match=r"loss\.defect_sizes"):
        _config(defect_weight=1.0, defect_sizes=(9.0, 3.0))


def test_moby_with_defects_trains_the_backbone_and_the_head_and_logs_the_subtask():
    torch.manual_seed(0)
    config = _config(defect_weight=1.0)
    method = build_method(config, in_channels=1, total_steps=10)
    assert method.needs_generator and not method.needs_geometry
    assert method.defects.settings.stages == (3, 4)
    views = torch.randn(8, 1, 32, 32), torch.randn(8, 1, 32, 32)
    output = method(*views, generator=torch.Generator().manual_seed(0))
    assert {"defects", "defect_recall"} <= output.metrics.keys()
    output.loss.backward()
    assert method.defects.head[0].weight.grad.abs().sum() > 0
    layer3 = method.online_encoder.backbone.network.layer3[0].conv1.weight
    assert layer3.grad.abs().sum() > 0
