"""Stopping the BatchNorm leak in MoCo's key encoder.

With BatchNorm, a query and its positive key computed from the same batch statistics can
"cheat" by recognizing the batch rather than the image (He et al. 2020, section 3.3). MoCo's
fix, shuffle-BN, needs several devices: keys are computed on a permuted batch spread over the
ranks. On one device we use split BN (also called ghost BN): each BatchNorm normalizes
``num_splits`` sub-batches separately, and the key encoder sees the batch in a random order,
so a query and its key land in sub-batches with different companions.

Example::

    encoder = convert_to_split_batchnorm(encoder, num_splits=4)   # both encoders
    keys = shuffled_forward(key_encoder, images)   # [N, C, H, W] -> [N, D], order preserved
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed


class SplitBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm that, in training, normalizes ``num_splits`` interleaved sub-batches apart.

    Works for [N, C] (heads) and [N, C, H, W] (backbones). Sample n belongs to sub-batch
    ``n % num_splits``; N must be a multiple of ``num_splits``. Running statistics are the mean
    of the sub-batches' statistics; evaluation is an ordinary BatchNorm.
    """

    def __init__(self, num_features: int, num_splits: int, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.num_splits = num_splits

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected a 2-D to 5-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.num_splits == 1 or not self.track_running_stats:
            return super().forward(x)
        n, c, *rest = x.shape
        splits = self.num_splits
        if n % splits:
            raise ValueError(f"batch of {n} is not divisible into {splits} BatchNorm splits")
        running_mean = self.running_mean.repeat(splits)
        running_var = self.running_var.repeat(splits)
        out = F.batch_norm(
            x.reshape(n // splits, c * splits, *rest),
            running_mean,
            running_var,
            self.weight.repeat(splits) if self.weight is not None else None,
            self.bias.repeat(splits) if self.bias is not None else None,
            training=True,
            momentum=self.momentum if self.momentum is not None else 0.1,
            eps=self.eps,
        ).reshape(x.shape)
        with torch.no_grad():
            self.running_mean.copy_(running_mean.view(splits, c).mean(dim=0))
            self.running_var.copy_(running_var.view(splits, c).mean(dim=0))
            self.num_batches_tracked += 1
        return out


def convert_to_split_batchnorm(module: nn.Module, num_splits: int) -> nn.Module:
    """Replace every BatchNorm1d/2d in ``module`` by a SplitBatchNorm with the same state."""
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        split = SplitBatchNorm(
            module.num_features, num_splits, eps=module.eps, momentum=module.momentum,
            affine=module.affine, track_running_stats=module.track_running_stats,
        )
        split.load_state_dict(module.state_dict())
        return split
    for name, child in module.named_children():
        setattr(module, name, convert_to_split_batchnorm(child, num_splits))
    return module


@torch.no_grad()
def shuffled_forward(encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """encoder(images) computed on a shuffled batch, returned in the original order.

    images: [N, C, H, W] of this rank -> [N, D]. Under DDP the batch is gathered from every
    rank, permuted with a permutation broadcast from rank 0, and each rank encodes one slice
    (MoCo's shuffle-BN); on one process the local batch is permuted (pair with split BN).
    """
    if not distributed.is_distributed():
        order = torch.randperm(images.shape[0], device=images.device)
        keys = encoder(images[order])
        return keys[torch.argsort(order)]

    world, rank = distributed.world_size(), distributed.rank()
    all_images = distributed.gather_from_all_ranks(images)
    order = torch.randperm(all_images.shape[0], device=images.device)
    distributed.broadcast_from_rank0(order)
    local_slice = order.view(world, -1)[rank]
    keys = encoder(all_images[local_slice])
    all_keys = distributed.gather_from_all_ranks(keys)
    restore = torch.argsort(order).view(world, -1)[rank]
    return all_keys[restore]
