"""The platform's held-out split of a version nobody split: whole parts on one side."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import HatcheryInputError
from worker.held_out import held_out_split

PARTS, SHOTS = 12, 3


def _shot(part: int, shot: int) -> Image.Image:
    """A part's own texture (seeded by the part) under the shot's lighting (gain)."""
    texture = np.random.default_rng(part).normal(0, 1, (48, 48))
    gain = (0.6, 1.0, 1.4)[shot]
    return Image.fromarray(np.clip(128 + 40 * gain * texture, 0, 255).astype(np.uint8))


@pytest.fixture()
def version(tmp_path) -> dict[str, Path]:
    """The cache layouts of one version: parts 0-5 class 'scratch' (defective), 6-11 'good';
    each part shot 3 times."""
    layouts = {name: tmp_path / name for name in ("files", "classes", "good", "defect")}
    for part in range(PARTS):
        label = "scratch" if part < PARTS // 2 else "good"
        for shot in range(SHOTS):
            name = f"line1/part{part:02d}_shot{shot}.png"
            for layout in ("files", f"classes/{label}",
                           "defect" if label == "scratch" else "good"):
                target = tmp_path / layout / name
                target.parent.mkdir(parents=True, exist_ok=True)
                _shot(part, shot).save(target)
    return layouts


def _part(path: str) -> str:
    return Path(path).name.split("_")[0]


def _sides(out: Path) -> dict[str, str]:
    with (out / "split.csv").open() as handle:
        return {row["path"]: row["side"] for row in csv.DictReader(handle)}


def test_a_classifier_split_keeps_every_part_on_one_side_and_each_class_on_both(version,
                                                                                 tmp_path):
    held = held_out_split(version.__getitem__, "classify", tmp_path / "split")

    assert held.labeled == PARTS * SHOTS and held.groups == PARTS
    train = {p.relative_to(held.train).as_posix() for p in held.train.rglob("*.png")}
    val = {p.relative_to(held.val).as_posix() for p in held.val.rglob("*.png")}
    assert len(train) + len(val) == PARTS * SHOTS and held.held == len(val)
    assert {_part(p) for p in train}.isdisjoint({_part(p) for p in val})
    assert {p.split("/")[0] for p in val} == {"good", "scratch"}
    sides = _sides(tmp_path / "split")
    for part in range(PARTS):
        assert len({side for path, side in sides.items() if f"part{part:02d}_" in path}) == 1


def test_an_anomaly_split_learns_from_good_parts_and_measures_every_defect(version, tmp_path):
    held = held_out_split(version.__getitem__, "anomaly", tmp_path / "split")

    good = {_part(p.name) for p in held.train.rglob("*.png")}
    val_good = {_part(p.name) for p in held.val_good.rglob("*.png")}
    assert good and val_good and good.isdisjoint(val_good)
    assert len(list(held.val_defect.rglob("*.png"))) == (PARTS // 2) * SHOTS
    assert held.held == len(val_good) * SHOTS + (PARTS // 2) * SHOTS


def test_an_anomaly_split_without_good_parts_says_so(version, tmp_path):
    for path in version["good"].rglob("*.png"):
        path.unlink()
    with pytest.raises(HatcheryInputError, match="needs good parts"):
        held_out_split(version.__getitem__, "anomaly", tmp_path / "split")
