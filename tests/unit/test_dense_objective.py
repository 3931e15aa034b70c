"""The local objective: view geometry, the pixel-level contrastive loss, MoBY with it on."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.data.augment import TwoViewAugment
from engine.data.geometry import ViewGeometry, image_to_view, shared_points
from engine.errors import JobConfigError
from engine.schemas.pretrain import AugmentConfig, CropConfig, PretrainConfig, ViewAugmentConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.ssl.dense import (
    DenseObjective,
    dense_consistency_loss,
    dense_contrastive_loss,
    sample_at,
)
from engine.ssl.factory import build_method


def no_photometric() -> ViewAugmentConfig:
    return ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0, blur_prob=0)


def test_a_marked_pixel_is_found_where_the_geometry_says_after_crops_flips_and_turns():
    """One bright pixel per image; wherever the augmentation puts it, image_to_view says."""
    count, size, view_size = 32, 48, 48
    images = torch.zeros(count, 1, size, size, dtype=torch.uint8)
    marks = torch.randint(12, 36, (count, 2), generator=torch.Generator().manual_seed(1))
    images[torch.arange(count), 0, marks[:, 1], marks[:, 0]] = 255
    sizes = torch.full((count, 2), size)
    config = AugmentConfig(crop=CropConfig(unit="pixels", scale=(48, 48)), hflip_prob=0.5,
                           vflip_prob=0.5, rotate90=True, view1=no_photometric(),
                           view2=no_photometric())
    augment = TwoViewAugment(config, view_size, 1, mean=(0.0,), std=(1.0,))
    (view, geometry), _ = augment.with_geometry(images, sizes, torch.Generator().manual_seed(0))
    assert geometry.turns.unique().numel() > 1 and geometry.hflip.any() and geometry.vflip.any()

    centers = marks.float()[:, None, :] + 0.5  # pixel centers, [B, 1, 2]
    found = image_to_view(centers, geometry)[:, 0] * view_size  # (x, y) in view pixels
    brightest = view.flatten(1).argmax(dim=1)
    assert torch.equal(found.floor().long()[:, 1] * view_size + found.floor().long()[:, 0],
                       brightest)


def test_shared_points_fall_inside_both_boxes_and_disjoint_views_are_invalid():
    first = ViewGeometry.unflipped(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 4.0, 4.0]]))
    second = ViewGeometry.unflipped(torch.tensor([[5.0, 2.0, 20.0, 20.0], [6.0, 6.0, 9.0, 9.0]]))
    points, valid = shared_points(first, second, 100, torch.Generator().manual_seed(0))
    assert valid.tolist() == [True, False]
    inside = points[0]
    assert (inside[:, 0] >= 5).all() and (inside[:, 0] <= 10).all()
    assert (inside[:, 1] >= 2).all() and (inside[:, 1] <= 10).all()
    for geometry in (first, second):
        in_view = image_to_view(points[:1], geometry[:1])
        assert (in_view >= 0).all() and (in_view <= 1).all()


def test_sample_at_reads_the_feature_at_a_view_point():
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, 1, 3] = 1.0  # row 1, column 3: center at x = 3.5/4, y = 1.5/4
    features[0, 1] = 0.001
    sampled = sample_at(features, torch.tensor([[[3.5 / 4, 1.5 / 4], [0.5 / 4, 0.5 / 4]]]))
    assert sampled.shape == (1, 2, 2)
    assert sampled[0, 0, 0] > 0.99 and sampled[0, 1, 0] < 0.01


def test_dense_loss_is_low_for_matching_features_and_high_for_random_ones():
    generator = torch.Generator().manual_seed(0)
    queries = F.normalize(torch.randn(4, 16, 32, generator=generator), dim=-1)
    points = torch.rand(4, 16, 2, generator=generator) * 100
    valid = torch.ones(4, dtype=torch.bool)
    matching = dense_contrastive_loss(queries, queries, points, valid, 0.1, exclusion=5.0)
    unrelated = F.normalize(torch.randn(4, 16, 32, generator=generator), dim=-1)
    random = dense_contrastive_loss(queries, unrelated, points, valid, 0.1, exclusion=5.0)
    assert matching < 0.5 < random


def test_dense_loss_masks_nearby_same_image_keys_and_invalid_images():
    queries = F.normalize(torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]),
                          dim=-1)
    points = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[50.0, 50.0], [80.0, 80.0]]])
    valid = torch.tensor([True, False])
    # image 0's two points are 1 px apart (< exclusion): each other's identical key is
    # masked, and image 1 (invalid) adds neither rows nor negatives -> loss exactly 0
    loss = dense_contrastive_loss(queries, queries, points, valid, 0.1, exclusion=2.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # without the exclusion each row sees an identical negative: log 2
    unmasked = dense_contrastive_loss(queries, queries, points, valid, 0.1, exclusion=0.5)
    assert unmasked.item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-4)


def test_consistency_is_zero_for_equal_features_and_skips_invalid_images():
    generator = torch.Generator().manual_seed(0)
    queries = F.normalize(torch.randn(3, 8, 16, generator=generator), dim=-1)
    valid = torch.tensor([True, True, False])
    assert dense_consistency_loss(queries, queries, valid).item() == pytest.approx(0, abs=1e-6)
    opposite = queries.clone()
    opposite[:2] = -queries[:2]  # the valid images disagree completely: 2 - 2 cos = 4
    assert dense_consistency_loss(queries, opposite, valid).item() == pytest.approx(4.0)
    scrambled = queries.clone()
    scrambled[2] = -queries[2]  # only the invalid image disagrees: it weighs nothing
    assert dense_consistency_loss(queries, scrambled, valid).item() == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("kind", ["consistency", "contrast"])
def test_dense_objective_gradient_reaches_the_online_side_only(kind):
    geometry = ViewGeometry.unflipped(torch.tensor([[0.0, 0.0, 32.0, 32.0]] * 2))
    online = torch.randn(2, 8, 4, 4, requires_grad=True)
    target = torch.randn(2, 8, 4, 4, requires_grad=True)
    loss = DenseObjective(weight=1.0, kind=kind, points=8).loss(
        online, geometry, target, geometry, torch.Generator().manual_seed(0))
    loss.backward()
    assert online.grad is not None and online.grad.abs().sum() > 0
    assert target.grad is None


def dense_config(**loss) -> PretrainConfig:
    config = PretrainConfig.model_validate({
        "data": {"path": "unused", "image_size": 32}, "heads": {"hidden_dim": 64},
        "batch_size": 8, "steps": 2, "loss": {"dense_weight": 1.0, **loss},
        "memory": {"size": 16}})
    return resolve_pretrain_config(config)


@pytest.mark.parametrize("symmetric", [True, False])
def test_moby_with_the_local_objective_trains_the_middle_stage(symmetric):
    torch.manual_seed(0)
    method = build_method(dense_config(symmetric=symmetric), in_channels=1, total_steps=2)
    assert method.needs_geometry
    images = torch.randint(0, 256, (8, 1, 40, 40), dtype=torch.uint8)
    augment_config = AugmentConfig(view1=no_photometric(), view2=no_photometric())
    augment = TwoViewAugment(augment_config, 32, 1, mean=(0.5,), std=(0.25,))
    generator = torch.Generator().manual_seed(0)
    (view1, geometry1), (view2, geometry2) = augment.with_geometry(
        images, torch.full((8, 2), 40), generator)
    output = method(view1, view2, geometry1=geometry1, geometry2=geometry2, generator=generator)
    assert torch.isfinite(output.metrics["dense"]) and output.metrics["dense"] > 0
    output.loss.backward()
    layer3 = method.online_encoder.backbone.network.layer3
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer3.parameters())
    assert method.dense_predictor is not None
    with pytest.raises(ValueError, match="geometry"):
        method(view1, view2)


def test_the_local_objective_is_refused_where_it_cannot_train():
    with pytest.raises(JobConfigError, match="moby and hatchery"):
        resolve_pretrain_config(PretrainConfig.model_validate({
            "method": "mocov2", "data": {"path": "x"}, "loss": {"dense_weight": 1.0}}))
    with pytest.raises(JobConfigError, match="2 stages"):
        resolve_pretrain_config(PretrainConfig.model_validate({
            "data": {"path": "x"}, "backbone": {"name": "vit_small"},
            "loss": {"dense_weight": 1.0, "dense_stage": 3}}))
    assert dense_config().loss.dense_stage == 3


def test_global_weight_zero_trains_the_local_objective_alone():
    torch.manual_seed(0)
    method = build_method(dense_config(global_weight=0.0), in_channels=1, total_steps=2)
    images = torch.randint(0, 256, (8, 1, 40, 40), dtype=torch.uint8)
    augment = TwoViewAugment(AugmentConfig(view1=no_photometric(), view2=no_photometric()),
                             32, 1, mean=(0.5,), std=(0.25,))
    generator = torch.Generator().manual_seed(0)
    (view1, geometry1), (view2, geometry2) = augment.with_geometry(
        images, torch.full((8, 2), 40), generator)
    output = method(view1, view2, geometry1=geometry1, geometry2=geometry2, generator=generator)
    # The global term is still measured, but weighs nothing: the loss is the local term.
    assert "contrastive" in output.metrics
    torch.testing.assert_close(output.loss, output.metrics["dense"])
    output.loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in method.predictor.parameters())
    layer3 = method.online_encoder.backbone.network.layer3
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer3.parameters())


def test_global_weight_is_refused_where_it_means_nothing():
    with pytest.raises(JobConfigError, match="nothing to learn"):
        dense_config(dense_weight=0.0, global_weight=0.0)
    with pytest.raises(JobConfigError, match=r"moby and hatchery.*leave it 1"):
        resolve_pretrain_config(PretrainConfig.model_validate({
            "method": "mocov2", "data": {"path": "x"}, "loss": {"global_weight": 0.5}}))
    assert dense_config(global_weight=0.0).loss.global_weight == 0
