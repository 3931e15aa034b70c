"""BatchNorm statistics fitted to the images a downstream model reads."""

from __future__ import annotations

import torch

from engine.backbones.pixels import RawPixels
from engine.backbones.resnet import ResNetBackbone
from engine.downstream.normalization import fit_batchnorm


def test_the_stem_statistics_are_those_of_the_images_and_no_weight_moves():
    torch.manual_seed(0)
    backbone = ResNetBackbone("resnet18", in_channels=1).eval()
    weights = {name: value.clone() for name, value in backbone.named_parameters()}
    images = [torch.randn(1, 1, 64, 64) * 3 + 2 for _ in range(4)]  # one batch, whole images

    assert fit_batchnorm(backbone, images) == 20  # every BatchNorm of ResNet-18

    net = backbone.network
    stem = net.conv1(torch.cat(images))  # [4, 64, 32, 32]
    torch.testing.assert_close(net.bn1.running_mean, stem.mean(dim=(0, 2, 3)),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(net.bn1.running_var,
                               stem.transpose(0, 1).reshape(64, -1).var(dim=1),
                               rtol=1e-3, atol=1e-4)
    assert not backbone.training and net.bn1.momentum == 0.1  # as it was
    assert all(torch.equal(value, weights[name]) for name, value in backbone.named_parameters())


def test_a_fitted_network_gives_each_stage_channels_on_one_scale():
    """Random weights and the default statistics (mean 0, variance 1) let the images'
    offset and spread through; fitted, the last stage's channels are centered."""
    torch.manual_seed(1)
    backbone = ResNetBackbone("resnet18", in_channels=1).eval()
    images = [torch.rand(1, 1, 96, 96) * 50 + 100 for _ in range(16)]
    with torch.no_grad():
        before = backbone.network.bn1(backbone.network.conv1(torch.cat(images)))
    fit_batchnorm(backbone, images)
    with torch.no_grad():
        after = backbone.network.bn1(backbone.network.conv1(torch.cat(images)))
    assert before.mean(dim=(0, 2, 3)).abs().mean() > 10
    assert after.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (after.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05


def test_images_of_any_size_and_a_lone_image_fit_and_a_network_without_batchnorm_is_left():
    torch.manual_seed(2)
    backbone = ResNetBackbone("resnet18", in_channels=3).eval()
    sizes = [(40, 300), (500, 64), (64, 64)]  # crops are cut to the batch's smallest side
    assert fit_batchnorm(backbone, (torch.randn(1, 3, h, w) for h, w in sizes)) == 20
    assert fit_batchnorm(backbone, [torch.randn(1, 3, 32, 32)]) == 20  # twice
    assert torch.isfinite(backbone.network.layer4[1].bn2.running_var).all()
    assert fit_batchnorm(RawPixels(1), [torch.randn(1, 1, 32, 32)]) == 0
    assert fit_batchnorm(backbone, []) == 0
