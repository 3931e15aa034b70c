"""The model directory: the one format every downstream result is written in and read from.

    out/
      model.yaml    what the model is: format, task, class names or threshold, how images
                    are prepared (channels, bit depth, normalization, scale, tiles), the
                    backbone's recipe, the fingerprint of the data it learned from, metrics
      weights.pt    tensors only (loaded with ``weights_only=True``): the backbone's weights
                    and the task's own (a classifier head, a memory bank of patches);
                    a detector's also holds ``parity_sample``, one validation image
                    (uint8 [C, H, W]) that ``export`` checks its parity on

``predict``, ``export``, the registry and the API read this one format. A directory written
by another format version is refused with a message that says which, never half-read. The
platform keeps a model directory as one tar archive of those two files (``pack_model``).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from engine.errors import HatcheryInputError

MODEL_FORMAT = "hatchery.model/1"
CARD_FILE, WEIGHTS_FILE = "model.yaml", "weights.pt"
PARITY_SAMPLE = "parity_sample"  # the weights' key of the image export checks parity on
Task = Literal["anomaly", "classify", "detect", "segment"]


class ModelDirectoryError(HatcheryInputError):
    """Not a model directory this version of Hatchery reads."""


@dataclass
class Preprocessing:
    """How an image becomes the network's input."""

    channels: int
    bit_depth: int
    mean: list[float]
    std: list[float]
    input_scale: float | None = None  # network px per native px (anomaly: native tiles)
    tile: int | None = None  # network px per tile side at most
    even_lighting: bool = False  # standardized by its own gray levels, not the data set's
    image_size: int | None = None  # classify: side of the resized input


@dataclass
class ModelCard:
    task: Task
    preprocessing: Preprocessing
    backbone: dict[str, Any]  # its recipe (engine.downstream.backbone_source.rebuild_backbone)
    data_fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    threshold: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the task's own (neighbourhood)
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format: str = MODEL_FORMAT


def save_model(directory: str | Path, card: ModelCard, weights: dict[str, Any]) -> Path:
    """Write ``model.yaml`` and ``weights.pt`` into ``directory`` (created), atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{WEIGHTS_FILE}.tmp"
    torch.save(weights, partial)
    os.replace(partial, directory / WEIGHTS_FILE)
    (directory / CARD_FILE).write_text(yaml.safe_dump(asdict(card), sort_keys=False))
    return directory


def load_card(directory: str | Path, task: Task | None = None) -> ModelCard:
    """The card of a model directory; refuses another format or, when given, another task."""
    directory = Path(directory)
    path = directory / CARD_FILE
    if not path.is_file():
        raise ModelDirectoryError(f"{directory} is not a model directory (no {CARD_FILE})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ModelDirectoryError(f"{path} cannot be read: {error}") from None
    found = raw.get("format") if isinstance(raw, dict) else None
    if found != MODEL_FORMAT:
        raise ModelDirectoryError(f"{directory} holds a model of format {found!r}; this "
                                  f"Hatchery reads {MODEL_FORMAT}")
    try:
        card = ModelCard(**{**raw, "preprocessing": Preprocessing(**raw["preprocessing"])})
    except (TypeError, KeyError) as error:
        raise ModelDirectoryError(f"{path} is incomplete or damaged: {error}") from None
    if task is not None and card.task != task:
        raise ModelDirectoryError(f"{directory} holds a model of task {card.task}, not {task}")
    return card


def load_weights(directory: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelDirectoryError(f"{directory} has a card but no {WEIGHTS_FILE}")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise ModelDirectoryError(f"{path} cannot be read: {error}") from None


def fingerprint(paths: list[Path], root: Path) -> str:
    """SHA-256 over the sorted relative paths and sizes of the files a model learned from:
    the same data gives the same fingerprint, a changed set another."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def pack_model(directory: str | Path, archive: str | Path) -> Path:
    """The model directory's card and weights (nothing else it holds) as a tar archive."""
    archive = Path(archive)
    load_card(directory)  # refuse to pack what is not a model directory
    with tarfile.open(archive, "w") as tar:
        for name in (CARD_FILE, WEIGHTS_FILE):
            tar.add(Path(directory) / name, arcname=name)
    return archive


def unpack_model(archive: str | Path, directory: str | Path) -> Path:
    """A ``pack_model`` archive back into a model directory (its two files only)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            members = [tar.getmember(name) for name in (CARD_FILE, WEIGHTS_FILE)]
            tar.extractall(directory, members=members, filter="data")
    except (tarfile.TarError, KeyError, OSError) as error:
        raise ModelDirectoryError(f"{archive} is not a packed model directory: {error}"
                                  ) from None
    load_card(directory)
    return directory
