"""A backbone's BatchNorm statistics fitted to the images a downstream model reads.

A BatchNorm layer normalizes with running statistics collected where the network last ran
in training mode: never (a random-init network: mean 0, variance 1, so each stage's
channels come out at whatever scale the random weights give them) or on augmented
pretraining crops at the pretraining scale. A patch-feature model then reads features
whose channels it weighs by accident. Re-estimating the statistics on the user's own good
parts, at the scale and lighting correction the model scores at, puts every channel of
every stage on the same footing (AdaBN, Li et al. 2016). No weight changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from engine.backbones import Backbone

CROP_SIDE = 256  # network pixels: at most this side for the crops the statistics see
CROPS_PER_BATCH = 8  # crops of different images per forward: the batch statistics then
# include the spread between images, not only within one
MAX_IMAGES = 64  # good parts the statistics are fitted on, spread over the training set


def batchnorm_layers(backbone: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def fit_batchnorm(backbone: Backbone, images: Iterable[torch.Tensor], seed: int = 0) -> int:
    """Re-estimate every BatchNorm's running mean and variance from ``images`` (prepared
    network inputs [1, C, H, W] whose sides may differ, read one at a time) and leave
    ``backbone`` in eval mode. Each image gives one random square of at most ``CROP_SIDE``;
    batches stack ``CROPS_PER_BATCH`` or so of them, cut to the batch's smallest side; the
    statistics are the equally weighted average over batches (a lone image goes in twice:
    training-mode BatchNorm needs more than one value per channel). Returns how many
    layers were fitted (0 for a network without BatchNorm)."""
    layers = batchnorm_layers(backbone)
    if not layers:
        return 0
    generator = torch.Generator().manual_seed(seed)
    crops = [_random_square(image, CROP_SIDE, generator) for image in images]
    if not crops:
        return 0
    if len(crops) == 1:
        crops.append(crops[0])
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches
    backbone.train()
    try:
        batches = math.ceil(len(crops) / CROPS_PER_BATCH)  # sizes differ by one at most
        for index in range(batches):
            chosen = crops[index * len(crops) // batches:(index + 1) * len(crops) // batches]
            side = min(min(crop.shape[-2:]) for crop in chosen)
            backbone.feature_maps(torch.cat([_random_square(crop, side, generator)
                                             for crop in chosen]))
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        backbone.eval()
    return len(layers)


def _random_square(image: torch.Tensor, side: int, generator: torch.Generator
                   ) -> torch.Tensor:
    """[1, C, H, W] -> [1, C, S, S], S = min(side, H, W), at a random place."""
    side = min(side, *image.shape[-2:])
    top = int(torch.randint(image.shape[-2] - side + 1, (1,), generator=generator))
    left = int(torch.randint(image.shape[-1] - side + 1, (1,), generator=generator))
    return image[..., top:top + side, left:left + side].contiguous()
