"""Checkpoints: one file holding everything an exact resume needs, written atomically.

Layout of ``checkpoint.pt`` (a dict)::

    format      "hatchery.pretrain/1"
    config      the resolved PretrainConfig as a plain dict
    data        {"channels", "bit_depth", "mean", "std", "num_images"}
    step        optimizer steps done (the data position follows from it)
    method      state_dict of the method: encoders, heads, memories
    optimizer, scaler, rng   for an exact resume

A completed run's checkpoint is final: ``final: True`` and ``method`` holding only the online
backbone's weights (``online_encoder.backbone.*``), what every use of the model reads.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import HatcheryInputError

CHECKPOINT_FORMAT = "hatchery.pretrain/1"


class CheckpointError(HatcheryInputError):
    """The file is missing or is not a Hatchery checkpoint."""


BACKBONE_PREFIX = "online_encoder.backbone."


def backbone_state(method: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The online backbone's weights of a method's state_dict, under their full names."""
    return {name: tensor for name, tensor in method.state_dict().items()
            if name.startswith(BACKBONE_PREFIX)}


def save_atomically(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a Hatchery pretrain checkpoint")
    return state


def capture_rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
