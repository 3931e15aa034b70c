"""Configurations of the embed and kNN-evaluation jobs. Torch-free."""

from __future__ import annotations

from pydantic import Field

from engine.schemas.pretrain import StrictModel


class EmbedConfig(StrictModel):
    """Write L2-normalized backbone features of every image under ``data``."""

    checkpoint: str
    data: str
    batch_size: int = Field(64, ge=1)
    # Large images are embedded as the mean feature of a grid of tiles at native resolution.
    max_tiles: int = Field(16, ge=1, le=256)
    device: str = "auto"


class KnnEvalConfig(StrictModel):
    """Weighted kNN (Wu et al. 2018) on frozen features; one sub-folder per class."""

    checkpoint: str | None = None
    train: str
    test: str
    k: tuple[int, ...] = (20, 200)
    temperature: float = Field(0.07, gt=0)
    batch_size: int = Field(64, ge=1)
    max_tiles: int = Field(16, ge=1, le=256)
    device: str = "auto"
