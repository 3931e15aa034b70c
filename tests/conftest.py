"""Shared fixtures: tiny encoders and small subsets of the real defect data."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HATCHERY_SHARED_DATA", REPO.parent / "shared" / "data"))
NEU_IMAGES = SHARED_DATA / "neu-det" / "IMAGES"
NEU_CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


class TinyBackbone(nn.Module):
    """[N, C, H, W] -> [N, 8]: one conv, ReLU, global average pool. No BatchNorm."""

    feature_dim = 8

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


@pytest.fixture
def tiny_backbone_factory():
    return TinyBackbone


def neu_subset(destination: Path, per_class: int, seed: int = 0, offset: int = 0) -> Path:
    """Copy ``per_class`` NEU-DET images of every class into ``destination/<class>/``."""
    if not NEU_IMAGES.is_dir():
        pytest.skip(f"NEU-DET images not found at {NEU_IMAGES}")
    rng = random.Random(seed)
    for name in NEU_CLASSES:
        files = sorted(NEU_IMAGES.glob(f"{name}_*.jpg"))
        rng.shuffle(files)
        target = destination / name
        target.mkdir(parents=True, exist_ok=True)
        for path in files[offset : offset + per_class]:
            shutil.copy(path, target / path.name)
    return destination


@pytest.fixture(scope="session")
def neu_small(tmp_path_factory) -> Path:
    """48 NEU-DET images (8 per class) in class folders."""
    return neu_subset(tmp_path_factory.mktemp("neu_small"), per_class=8)


@pytest.fixture(scope="session")
def neu_knn_split(tmp_path_factory) -> tuple[Path, Path]:
    """Disjoint labeled train (6 per class) and test (4 per class) folders."""
    root = tmp_path_factory.mktemp("neu_knn")
    train = neu_subset(root / "train", per_class=6, seed=1)
    test = neu_subset(root / "test", per_class=4, seed=1, offset=6)
    return train, test
