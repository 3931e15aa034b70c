"""Faster R-CNN and Mask R-CNN (torchvision) with a feature pyramid on a Hatchery backbone;
reading a detect/segment model directory back and predicting with it.

    model = build_detector(backbone, num_classes=6, masks=False, mean=[0.4], std=[0.2],
                           min_size=512, max_size=512, norm="batch")
    model.train(); losses = model(images, targets)     # images: list of float [C, H, W]
    model.eval(); found = model(images)               # [{"boxes", "labels", "scores"}, ...]

The pyramid's inputs are the backbone's own maps of stride 4 or more: a ResNet's or a Swin's
four stages, or for a ViT the simple feature pyramid of ViTDet (Li et al. 2022) built from
its last map (strides p/4, p/2, p, 2p for patch size p). An FPN (Lin et al. 2017) with a
max-pooled extra level sits on top; each level's anchors are 8 times its stride, in three
aspect ratios. The normalization layers train, as in MoCo's detection transfer (He et al.
2020): ``norm="batch"`` keeps BatchNorm (and uses it in the FPN and mask head),
``norm="group"`` turns every BatchNorm into a GroupNorm with the same scale and shift.
Label 0 is the background; class ``k`` of the class names is label ``k + 1``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from engine.backbones import Backbone
from engine.backbones.resnet import ResNetBackbone
from engine.backbones.swin import SwinBackbone
from engine.backbones.vit import VisionTransformer
from engine.downstream.backbone_source import rebuild_backbone
from engine.downstream.model_dir import ModelCard, load_card, load_weights
from engine.errors import HatcheryInputError

FPN_CHANNELS = 256
MIN_STRIDE = 4  # finer maps cost a lot and find little that stride 4 misses
ANCHOR_PER_STRIDE = 8  # anchor side / level stride, as torchvision's FPN (32 at stride 4)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
PROBE_SIZE = 64  # input side used once to learn the backbone's strides and widths
MASK_THRESHOLD = 0.5
# torchvision's region proposals per image at inference, and what cards without a
# ``proposals`` setting (written before it existed) were measured with
TORCHVISION_PROPOSALS = 1000
NormLayer = Callable[[int], nn.Module]


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups (fewer when ``channels`` is not a multiple of 32)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def norm_layer(norm: str) -> NormLayer:
    return nn.BatchNorm2d if norm == "batch" else group_norm


def batchnorm_to_groupnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d under ``module`` (in place) by a GroupNorm with its learned
    scale and shift; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            replacement = group_norm(child.num_features)
            if child.affine:
                with torch.no_grad():
                    replacement.weight.copy_(child.weight)
                    replacement.bias.copy_(child.bias)
            setattr(module, name, replacement)
        else:
            batchnorm_to_groupnorm(child)
    return module


class SimplePyramid(nn.Module):
    """ViTDet's simple feature pyramid: a ViT's last map [N, D, H/p, W/p] -> maps at strides
    p/4 (two 2x transposed convolutions, D/4 wide), p/2 (one, D/2 wide), p (itself) and 2p
    (max-pooled); only those of stride >= ``MIN_STRIDE`` are built."""

    def __init__(self, dim: int, patch_size: int, norm: NormLayer) -> None:
        super().__init__()
        candidates: list[tuple[int, nn.Module, int]] = [
            (patch_size // 4, nn.Sequential(
                nn.ConvTranspose2d(dim, dim // 2, 2, stride=2), norm(dim // 2), nn.GELU(),
                nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2)), dim // 4),
            (patch_size // 2, nn.ConvTranspose2d(dim, dim // 2, 2, stride=2), dim // 2),
            (patch_size, nn.Identity(), dim),
            (patch_size * 2, nn.MaxPool2d(2), dim)]
        kept = [entry for entry in candidates if entry[0] >= MIN_STRIDE]
        self.strides = [stride for stride, _, _ in kept]
        self.channels = [channels for _, _, channels in kept]
        self.scales = nn.ModuleList(module for _, module, _ in kept)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: [N, D, H/p, W/p] -> one map per kept stride."""
        return [scale(x) for scale in self.scales]


class PyramidBackbone(nn.Module):
    """A Hatchery backbone under an FPN: [N, C, H, W] (H, W multiples of 32) ->
    OrderedDict {"0": [N, 256, H/s0, W/s0], ..., "pool": [N, 256, H/2sL, W/2sL]}.

    ``strides``: every level's stride, the pooled one last; ``level_names``: the levels the
    RoI heads pool from (all but the pooled one)."""

    out_channels = FPN_CHANNELS

    def __init__(self, body: Backbone, norm: NormLayer) -> None:
        super().__init__()
        if not isinstance(body, (ResNetBackbone, SwinBackbone, VisionTransformer)):
            raise HatcheryInputError(f"{type(body).__name__} has no feature pyramid: "
                                     "detection needs a ResNet, a Swin or a ViT backbone")
        self.body = body
        widths, strides = self._probe(body)
        self.pyramid: SimplePyramid | None = None
        if isinstance(body, VisionTransformer):
            self.pyramid = SimplePyramid(widths[-1], strides[-1], norm)
            widths, strides = self.pyramid.channels, self.pyramid.strides
            self.keep = list(range(len(strides)))
        else:
            self.keep = [index for index, stride in enumerate(strides) if stride >= MIN_STRIDE]
            if len(self.keep) < 2:
                self.keep = list(range(len(strides)))[-2:]
            widths = [widths[index] for index in self.keep]
            strides = [strides[index] for index in self.keep]
        self.fpn = FeaturePyramidNetwork(widths, FPN_CHANNELS, extra_blocks=LastLevelMaxPool(),
                                         norm_layer=norm)
        self.level_names = [str(index) for index in range(len(strides))]
        self.strides = [*strides, 2 * strides[-1]]

    @staticmethod
    @torch.no_grad()
    def _probe(body: Backbone) -> tuple[list[int], list[int]]:
        """The widths and strides of ``body``'s maps, from one small input in eval mode."""
        channels = next(module for module in body.modules()
                        if isinstance(module, nn.Conv2d)).in_channels
        was_training = body.training
        body.eval()
        device = next(body.parameters()).device
        maps = body.feature_maps(torch.zeros(1, channels, PROBE_SIZE, PROBE_SIZE,
                                             device=device))
        body.train(was_training)
        return [m.values.shape[1] for m in maps], [m.stride for m in maps]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        maps = [m.values for m in self.body.feature_maps(x)]
        if self.pyramid is not None:
            maps = self.pyramid(maps[-1])
        else:
            maps = [maps[index] for index in self.keep]
        return self.fpn(OrderedDict(zip(self.level_names, maps, strict=True)))


def build_detector(backbone: Backbone, num_classes: int, masks: bool, mean: list[float],
                   std: list[float], min_size: int, max_size: int, norm: str,
                   rois_per_image: int = 512, max_detections: int = 100,
                   proposals: int = TORCHVISION_PROPOSALS) -> GeneralizedRCNN:
    """Faster R-CNN (``masks=False``) or Mask R-CNN on ``backbone`` for ``num_classes``
    object classes. Images (float [C, H, W] in [0, 1]) are normalized by ``mean``/``std``
    and resized so the shorter side is ``min_size`` and the longer at most ``max_size``.
    ``rois_per_image``: proposals sampled per image to train the RoI heads;
    ``max_detections``: objects found per image at most; ``proposals``: region proposals
    per image the box head scores at inference (its cost is about proportional to them)."""
    layer = norm_layer(norm)
    if norm == "group":
        batchnorm_to_groupnorm(backbone)
    body = PyramidBackbone(backbone, layer)
    anchors = AnchorGenerator(tuple((ANCHOR_PER_STRIDE * stride,) for stride in body.strides),
                              (ASPECT_RATIOS,) * len(body.strides))
    common: dict[str, Any] = {
        "num_classes": num_classes + 1, "min_size": min_size, "max_size": max_size,
        "image_mean": list(mean), "image_std": list(std), "rpn_anchor_generator": anchors,
        "box_roi_pool": MultiScaleRoIAlign(body.level_names, 7, 2),
        "box_batch_size_per_image": rois_per_image,
        "box_detections_per_img": max_detections,
        "rpn_pre_nms_top_n_test": max(proposals, TORCHVISION_PROPOSALS),
        "rpn_post_nms_top_n_test": proposals}
    if not masks:
        return FasterRCNN(body, **common)
    return MaskRCNN(body, mask_roi_pool=MultiScaleRoIAlign(body.level_names, 14, 2),
                    mask_head=MaskRCNNHeads(FPN_CHANNELS, [FPN_CHANNELS] * 4, 1,
                                            norm_layer=layer), **common)


def detector_of_card(card: ModelCard) -> GeneralizedRCNN:
    """The (untrained) network a detect/segment card describes."""
    prep = card.preprocessing
    backbone = rebuild_backbone(card.backbone, prep.channels)
    return build_detector(backbone, len(card.class_names), card.task == "segment", prep.mean,
                          prep.std, prep.image_size, card.settings["max_size"],
                          card.settings["norm"],
                          max_detections=card.settings["max_detections"],
                          proposals=card.settings.get("proposals", TORCHVISION_PROPOSALS))


def load_detector(directory: str | Path, device: torch.device
                  ) -> tuple[GeneralizedRCNN, ModelCard]:
    """The trained detector of a detect or segment model directory (eval mode), its card."""
    card = load_card(directory)
    if card.task not in ("detect", "segment"):
        raise HatcheryInputError(f"{directory} holds a model of task {card.task}, not "
                                 "detect or segment")
    model = detector_of_card(card)
    model.load_state_dict(load_weights(directory, device)["model"])
    return model.to(device).eval(), card


def mask_rle(mask: torch.Tensor) -> dict[str, Any]:
    """bool [H, W] -> COCO run-length encoding {"size": [H, W], "counts": str}."""
    rle = mask_utils.encode(np.asfortranarray(mask.cpu().numpy().astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


@torch.no_grad()
def predict_objects(model: GeneralizedRCNN, card: ModelCard, image: torch.Tensor,
                    device: torch.device) -> dict[str, Any]:
    """A decoded image (uint8 [C, H, W]) -> ``{"boxes": [{"class", "score", "box": [x0, y0,
    x1, y1]}, ...]}`` in image pixels, best first, scores >= the card's threshold; a segment
    model adds ``"masks"``: one COCO RLE per box, in the same order."""
    model.eval()
    found = model([image.to(device).float().div_(255)])[0]
    keep = found["scores"] >= (card.threshold or 0.0)
    boxes = [{"class": card.class_names[int(label) - 1], "score": round(float(score), 6),
              "box": [round(float(v), 2) for v in box]}
             for box, label, score in zip(found["boxes"][keep], found["labels"][keep],
                                          found["scores"][keep], strict=True)]
    result: dict[str, Any] = {"boxes": boxes}
    if card.task == "segment":
        result["masks"] = [mask_rle(mask[0] >= MASK_THRESHOLD)
                           for mask in found["masks"][keep]]
    return result
