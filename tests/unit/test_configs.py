"""The shipped recipes validate, resolve and build (on the CPU, at their real sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.ssl import build_method

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_resolves_and_builds(path):
    raw = PretrainConfig.model_validate(yaml.safe_load(path.read_text()))
    config = resolve_pretrain_config(raw)
    assert resolve_pretrain_config(config) == config  # resolving is idempotent
    method = build_method(config, in_channels=3, total_steps=1000)
    assert sum(p.numel() for p in method.parameters() if p.requires_grad) > 1_000_000
