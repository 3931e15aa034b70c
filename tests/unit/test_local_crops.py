"""Multi-crop: local views cut at native resolution, and MoBY's term that pairs each with its
own image's target keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.augment import TwoViewAugment
from engine.errors import JobConfigError
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.ssl.factory import build_method
from engine.ssl.memory import NegativeDraw


def local_config(method: str = "hatchery", **fields) -> PretrainConfig:
    config = PretrainConfig.model_validate({
        "method": method, "data": {"path": "unused", "image_size": 32},
        "heads": {"hidden_dim": 64}, "batch_size": 8, "steps": 2, "memory": {"size": 16},
        "augment": {"local_crops": {"count": 3, **fields}}})
    return resolve_pretrain_config(config)


def test_local_crops_default_to_half_the_view_cut_near_native_resolution():
    local = local_config().augment.local_crops
    assert local.size == 16
    assert local.crop.unit == "pixels" and local.crop.scale == (16, 24)
    assert local_config(size=24).augment.local_crops.crop.scale == (24, 36)
    with pytest.raises(JobConfigError, match="moby and hatchery"):
        local_config("mocov2")


def test_local_views_are_small_native_crops_and_leave_the_global_views_unchanged():
    config = local_config()
    augment = TwoViewAugment(config.augment, 32, 1, mean=(0.5,), std=(0.25,))
    images = torch.randint(0, 256, (4, 1, 200, 120), dtype=torch.uint8)
    sizes = torch.tensor([[200, 120], [150, 100], [60, 60], [200, 120]])
    generator = torch.Generator().manual_seed(3)
    view1, view2 = augment(images, sizes, generator)
    local = augment.local_views(images, sizes, generator)
    assert local.shape == (3, 4, 1, 16, 16)
    assert view1.shape == (4, 1, 32, 32) and torch.isfinite(local).all()
    # The global views come first from the generator: the same with or without local crops.
    again1, again2 = augment(images, sizes, torch.Generator().manual_seed(3))
    torch.testing.assert_close(again1, view1)
    torch.testing.assert_close(again2, view2)
    # Three crops of one image are three different places.
    assert not torch.allclose(local[0, 0], local[1, 0])


class _Flatten(nn.Module):
    """Stands in for an encoder: [N, D, 1, 1] -> [N, D]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def _keys_method(symmetric: bool):
    """A MoBY whose online branch returns its input: a local view [D, 1, 1] is its
    prediction, so the test decides which key each crop resembles."""
    method = build_method(local_config(), in_channels=1, total_steps=2)
    method.symmetric, method.bn_splits = symmetric, 1
    method.online_encoder, method.predictor = _Flatten(), nn.Identity()
    return method


def _draw(count: int, dim: int) -> NegativeDraw:
    keys = F.normalize(torch.randn(count, dim, generator=torch.Generator().manual_seed(1)), dim=1)
    return NegativeDraw(keys=keys, log_weights=None)


@pytest.mark.parametrize("symmetric", [True, False])
def test_each_local_crop_is_paired_with_its_own_images_keys(symmetric):
    images, dim, crops = 8, 32, 2
    method = _keys_method(symmetric)
    keys = F.normalize(torch.randn(images, dim, generator=torch.Generator().manual_seed(0)),
                       dim=1)
    if symmetric:  # both views' keys of every image (here the same per image)
        key1, key2 = keys, keys
    else:  # key2 of the first half of the images, key1 of the second
        key2, key1 = keys[:4], keys[4:]
    draw1, draw2 = _draw(16, dim), _draw(16, dim)
    matching = keys.view(1, images, dim, 1, 1).expand(crops, -1, -1, -1, -1)
    shuffled = matching[:, torch.roll(torch.arange(images), 1)]
    paired = method._local_crops_loss(matching, key1, key2, draw1, draw2)
    mismatched = method._local_crops_loss(shuffled, key1, key2, draw1, draw2)
    assert paired.item() < 0.5 and mismatched.item() > paired.item() + 2, (paired, mismatched)


def test_moby_with_local_crops_trains_the_online_branch_only():
    torch.manual_seed(0)
    config = local_config()
    method = build_method(config, in_channels=1, total_steps=2)
    augment = TwoViewAugment(config.augment, 32, 1, mean=(0.5,), std=(0.25,))
    images = torch.randint(0, 256, (8, 1, 48, 48), dtype=torch.uint8)
    sizes = torch.full((8, 2), 48)
    generator = torch.Generator().manual_seed(0)
    view1, view2 = augment(images, sizes, generator)
    local = augment.local_views(images, sizes, generator)
    method(view1, view2)
    method.after_optimizer_step(0)  # the memories now hold negatives
    output = method(view1, view2, local_views=local)
    assert torch.isfinite(output.metrics["local_crops"]) and output.metrics["local_crops"] > 0
    output.loss.backward()
    online = method.online_encoder.backbone.network.layer1
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in online.parameters())
    assert all(p.grad is None for p in method.target_encoder.parameters())
    without = method(view1, view2)
    assert "local_crops" not in without.metrics
