"""The peer our benchmarks compare against: lightly's MoCo v2, set up as its docs show.

lightly's example recipe: per-image PIL augmentations (``MoCoV2Transform``) in DataLoader
workers, ``MoCoProjectionHead``, ``NTXentLoss`` with a memory bank, ``update_momentum`` and
``batch_shuffle``; fp32, SGD. Only the backbone is shared with us (the same torchvision
ResNet-18, small-input stem), so a throughput or accuracy difference comes from the training
system, not the network. lightly is a bench extra, never a dependency of the engine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from engine.backbones.resnet import ResNetBackbone


class PilImageFolder(Dataset):
    """RGB PIL images of a folder, passed through a lightly transform (two views)."""

    def __init__(self, paths: list[Path], transform) -> None:
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


class LightlyMoCoV2(nn.Module):
    """lightly's MoCo v2 example model around our ResNet backbone (3 input channels)."""

    def __init__(self, image_size: int, memory_size: int, small_input: bool = True) -> None:
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        self.backbone = ResNetBackbone("resnet18", 3, small_input=small_input)
        self.projection_head = MoCoProjectionHead(512, 512, 128)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)
        self.criterion = NTXentLoss(temperature=0.2, memory_bank_size=(memory_size, 128))

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        from lightly.models.utils import batch_shuffle, batch_unshuffle, update_momentum

        update_momentum(self.backbone, self.backbone_momentum, m=0.996)
        update_momentum(self.projection_head, self.projection_head_momentum, m=0.996)
        q = self.projection_head(self.backbone(query))
        with torch.no_grad():
            key, shuffle = batch_shuffle(key)
            k = self.projection_head_momentum(self.backbone_momentum(key))
            k = batch_unshuffle(k, shuffle)
        return self.criterion(q, k)


def lightly_loader(paths: list[Path], image_size: int, batch_size: int, workers: int,
                   seed: int = 0) -> DataLoader:
    from lightly.transforms import MoCoV2Transform

    transform = MoCoV2Transform(input_size=image_size)
    return DataLoader(
        PilImageFolder(paths, transform), batch_size=batch_size, shuffle=True, drop_last=True,
        num_workers=workers, persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )


class LightlyTrainer:
    """The peer's training loop: SGD (lr 0.06 per 256, momentum 0.9, wd 5e-4), fp32."""

    def __init__(self, paths: list[Path], image_size: int = 64, batch_size: int = 128,
                 memory_size: int = 1664, workers: int = 2, small_input: bool = True) -> None:
        torch.manual_seed(0)
        self.model = LightlyMoCoV2(image_size, memory_size, small_input)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.06 * batch_size / 256,
                                         momentum=0.9, weight_decay=5e-4)
        self.loader = lightly_loader(paths, image_size, batch_size, workers)
        self.batch_size = batch_size
        self._batches = self._forever()

    def _forever(self) -> Iterator:
        while True:
            yield from self.loader

    def train_step(self) -> float:
        views = next(self._batches)
        loss = self.model(views[0], views[1])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss)

    def train_for(self, seconds: float, on_step=None) -> int:
        """Train until ``seconds`` of wall-clock time have passed; returns the steps done."""
        self.model.train()
        deadline, steps = time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            loss = self.train_step()
            steps += 1
            if on_step is not None:
                on_step(steps, loss)
        return steps
