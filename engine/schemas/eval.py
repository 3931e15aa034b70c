"""Configurations of the embed and kNN-evaluation jobs. Torch-free."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from engine.schemas.types import Bool, Float, Int, StrictModel

Device = Literal["auto", "cpu", "cuda"]
# Weighted kNN after Wu et al. 2018: k = 20 and 200 neighbours, temperature 0.07.
DEFAULT_KS: tuple[int, ...] = (20, 200)
DEFAULT_TEMPERATURE = 0.07
Neighbours = Annotated[Int, Field(ge=1, le=100_000)]


class EmbedConfig(StrictModel):
    """Write L2-normalized backbone features of every image under ``data``."""

    checkpoint: str = Field(min_length=1, max_length=4096)
    data: str = Field(min_length=1, max_length=4096)
    # tiles per forward pass
    batch_size: Int = Field(64, ge=1, le=4096)
    # Large images are embedded as the mean feature of a grid of tiles at native resolution.
    max_tiles: Int = Field(16, ge=1, le=256)
    device: Device = "auto"


class KnnEvalConfig(StrictModel):
    """Weighted kNN (Wu et al. 2018) on frozen features; one sub-folder per class.

    In the platform ``test`` may be left out: the train version's images marked ``test``
    are then the test set, and those marked ``train`` or not at all the train set."""

    checkpoint: str | None = Field(None, min_length=1, max_length=4096)
    train: str = Field(min_length=1, max_length=4096)
    test: str | None = Field(None, min_length=1, max_length=4096)
    k: tuple[Neighbours, ...] = Field(DEFAULT_KS, min_length=1, max_length=8)
    temperature: Float = Field(DEFAULT_TEMPERATURE, ge=0.005, le=10)
    # tiles per forward pass, and at most this many tiles per image
    batch_size: Int = Field(64, ge=1, le=4096)
    max_tiles: Int = Field(16, ge=1, le=256)
    device: Device = "auto"
    # the same kNN for a random-init network and raw pixels, beside the backbone's
    baselines: Bool = True
