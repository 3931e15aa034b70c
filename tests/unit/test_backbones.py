"""Backbones: shapes, input channels, stems, frozen patch embedding, drop-path, errors.

Tiny inputs (16-32 px, batch 2) on the CPU; the whole file runs in seconds.
"""

from __future__ import annotations

import pytest
import torch

from engine.backbones import Backbone, build_backbone
from engine.backbones.vit import sincos_position_embedding
from engine.schemas.backbones import BACKBONE_SPECS
from engine.schemas.pretrain import BackboneConfig


def resolved(name: str, **fields) -> BackboneConfig:
    """A resolved config: small inputs, the small-input patch size, no drop-path."""
    patch_size = {"swin_tiny": 2, "vit_base": 16}.get(name, 8)
    defaults = {"small_input": True, "patch_size": patch_size, "drop_path": 0.0}
    return BackboneConfig(name=name, **{**defaults, **fields})


def images(channels: int = 3, height: int = 16, width: int | None = None) -> torch.Tensor:
    """A batch of 2 random images: [2, channels, height, width]."""
    torch.manual_seed(0)
    return torch.randn(2, channels, height, width or height)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    ("name", "feature_dim", "size"),
    [
        ("resnet18", 512, 16),
        ("resnet50", 2048, 16),
        ("vit_small", 384, 16),
        ("deit_small", 384, 16),
        ("vit_base", 768, 32),
        ("swin_tiny", 768, 16),
    ],
)
def test_pooled_features_for_every_backbone(name, feature_dim, size, channels):
    backbone = build_backbone(resolved(name), in_channels=channels)
    assert isinstance(backbone, Backbone)
    assert backbone.feature_dim == feature_dim == BACKBONE_SPECS[name].feature_dim
    features = backbone.eval()(images(channels, size))
    assert features.shape == (2, feature_dim)
    assert torch.isfinite(features).all()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_without_small_input_keeps_the_published_stem(name):
    backbone = build_backbone(resolved(name, small_input=False), in_channels=1)
    conv1 = backbone.network.conv1
    assert (conv1.in_channels, conv1.kernel_size, conv1.stride) == (1, (7, 7), (2, 2))
    assert isinstance(backbone.network.maxpool, torch.nn.MaxPool2d)
    assert backbone.eval()(images(1, 32)).shape == (2, backbone.feature_dim)


def test_resnet_small_input_stem():
    backbone = build_backbone(resolved("resnet18", small_input=True), in_channels=3)
    conv1 = backbone.network.conv1
    assert (conv1.kernel_size, conv1.stride, conv1.padding) == ((3, 3), (1, 1), (1, 1))
    assert isinstance(backbone.network.maxpool, torch.nn.Identity)


@pytest.mark.parametrize("channels", [1, 3])
def test_vit_conv_stem(channels):
    vit = build_backbone(resolved("vit_small", stem="conv"), in_channels=channels)
    assert vit(images(channels, 16)).shape == (2, 384)
    # patch 8 = three 3x3 stride-2 convolutions (48, 96, 192 channels), then a 1x1 to 384.
    convs = [m for m in vit.stem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (48, (3, 3), (2, 2)),
        (96, (3, 3), (2, 2)),
        (192, (3, 3), (2, 2)),
        (384, (1, 1), (1, 1)),
    ]
    assert convs[0].in_channels == channels


def test_conv_stem_has_one_block_fewer():
    patchify = build_backbone(resolved("vit_small", stem="patchify"), in_channels=3)
    conv = build_backbone(resolved("vit_small", stem="conv"), in_channels=3)
    assert len(patchify.blocks) == 12
    assert len(conv.blocks) == 11


@pytest.mark.parametrize("stem", ["patchify", "conv"])
def test_vit_accepts_several_input_sizes(stem):
    vit = build_backbone(resolved("vit_small", stem=stem), in_channels=3).eval()
    for height, width in [(16, 16), (32, 32), (16, 40)]:
        assert vit(images(3, height, width)).shape == (2, 384)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        vit(images(3, 20))


def test_position_embedding_is_cached_per_grid():
    vit = build_backbone(resolved("vit_small"), in_channels=3).eval()
    vit(images(3, 16))
    vit(images(3, 16))
    vit(images(3, 32))
    assert sorted(key[:2] for key in vit._position_cache) == [(2, 2), (4, 4)]


def test_sincos_position_embedding_gives_every_token_its_own_code():
    embedding = sincos_position_embedding(3, 5, 32)
    assert embedding.shape == (15, 32)
    assert torch.cdist(embedding, embedding).add(torch.eye(15)).min() > 0


def test_frozen_patch_embedding_stays_put_while_the_rest_trains():
    vit = build_backbone(resolved("vit_small", freeze_patch_embed=True), in_channels=3)
    projection = vit.stem.projection
    assert not projection.weight.requires_grad and not projection.bias.requires_grad
    frozen_before = [p.detach().clone() for p in projection.parameters()]
    block_before = vit.blocks[0].mlp[0].weight.detach().clone()
    trainable = [p for p in vit.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    vit(images(3, 16)).square().sum().backward()
    optimizer.step()
    for before, after in zip(frozen_before, projection.parameters(), strict=True):
        assert torch.equal(before, after)
    assert not torch.equal(block_before, vit.blocks[0].mlp[0].weight)


def test_frozen_patch_embedding_has_no_meaning_for_the_conv_stem():
    with pytest.raises(ValueError, match="conv stem"):
        build_backbone(resolved("vit_small", stem="conv", freeze_patch_embed=True), 3)


def test_frozen_patch_embedding_for_swin():
    swin = build_backbone(resolved("swin_tiny", freeze_patch_embed=True), in_channels=1)
    patch_projection = swin.network.features[0][0]
    assert not any(p.requires_grad for p in patch_projection.parameters())
    assert all(p.requires_grad for p in swin.network.features[1].parameters())


def test_frozen_patch_embedding_is_rejected_for_resnets():
    with pytest.raises(ValueError, match="freeze_patch_embed"):
        build_backbone(resolved("resnet18", freeze_patch_embed=True), 3)


@pytest.mark.parametrize("name", ["vit_small", "swin_tiny"])
def test_drop_path_override(name):
    config = resolved(name, drop_path=0.5)
    x = images(3, 16)
    online = build_backbone(config, in_channels=3).train()
    torch.manual_seed(1)
    first = online(x)
    second = online(x)
    assert not torch.allclose(first, second), "drop-path 0.5 in train mode must be stochastic"

    target = build_backbone(config, in_channels=3, drop_path=0.0).train()
    torch.manual_seed(1)
    assert torch.equal(target(x), target(x)), "no BatchNorm, no drop-path: deterministic"


def test_vit_drop_path_rises_linearly_to_the_configured_rate():
    vit = build_backbone(resolved("vit_small", drop_path=0.2), in_channels=3)
    rates = [block.drop_path.p for block in vit.blocks]
    assert rates[0] == 0.0
    assert rates[-1] == pytest.approx(0.2)
    assert rates == pytest.approx([0.2 * i / 11 for i in range(12)])
    target = build_backbone(resolved("vit_small", drop_path=0.2), in_channels=3, drop_path=0.0)
    assert all(block.drop_path.p == 0.0 for block in target.blocks)


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("resnet18", "patchify"),
        ("resnet50", "patchify"),
        ("vit_small", "patchify"),
        ("vit_small", "conv"),
        ("swin_tiny", "patchify"),
    ],
)
def test_channels_last_under_bfloat16_autocast(name, stem):
    backbone = build_backbone(resolved(name, stem=stem), in_channels=3).train()
    x = images(3, 16).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = backbone(x)
    assert features.shape == (2, backbone.feature_dim)
    assert torch.isfinite(features.float()).all()
    features.float().sum().backward()


def test_unknown_name_lists_the_allowed_ones():
    config = BackboneConfig.model_construct(
        name="vgg16",
        stem="patchify",
        small_input=True,
        patch_size=None,
        drop_path=0.0,
        freeze_patch_embed=False,
    )
    with pytest.raises(ValueError, match="resnet18, resnet50, vit_small"):
        build_backbone(config, in_channels=3)


def test_unresolved_config_is_an_error():
    with pytest.raises(ValueError, match="resolve_pretrain_config"):
        build_backbone(BackboneConfig(name="resnet18"), in_channels=3)
    with pytest.raises(ValueError, match="resolve_pretrain_config"):
        build_backbone(BackboneConfig(name="vit_small", small_input=True), in_channels=3)


@pytest.mark.parametrize(("name", "size"),
                         [("resnet18", 32), ("vit_small", 16), ("swin_tiny", 32), ("pixels", 32)])
def test_shallow_maps_are_the_first_stages_of_feature_maps(name, size):
    """PatchCore and the synthetic defects stop early; what they get must be what the whole
    pass gives, and ``stage_count`` must say how many maps that is."""
    from engine.backbones.pixels import RawPixels
    from engine.schemas.recipes import STAGE_COUNTS

    backbone = RawPixels(3) if name == "pixels" else build_backbone(resolved(name), 3)
    backbone.eval()
    if name != "pixels":
        assert backbone.stage_count == STAGE_COUNTS[BACKBONE_SPECS[name].family]
    with torch.no_grad():
        full = backbone.feature_maps(images(3, size))
        assert len(full) == backbone.stage_count
        for depth in range(1, backbone.stage_count + 1):
            shallow = backbone.shallow_maps(images(3, size), depth)
            assert [m.stride for m in shallow] == [m.stride for m in full[:depth]]
            for ours, theirs in zip(shallow, full[:depth], strict=True):
                torch.testing.assert_close(ours.values, theirs.values)
