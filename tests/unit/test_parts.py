"""The generated parts (bench/parts.py): the second data set of every quality claim."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from bench.parts import DEFECT_KINDS, PartsSpec, generate


def _rows(root: Path) -> list[dict[str, str]]:
    with (root / "groups.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_anomaly_parts_are_good_or_defect_and_every_shot_of_a_defective_part_has_a_mask(
        tmp_path: Path) -> None:
    root = generate(PartsSpec(parts=8, lightings=2, size=64, defect_rate=0.5), tmp_path)
    rows = _rows(root)
    assert len(rows) == 16
    assert {row["label"] for row in rows} == {"good", "defect"}
    for row in rows:
        assert row["path"].split("/")[0] == row["label"]
        mask = root / "masks" / Path(row["path"]).name
        assert mask.is_file() == (row["defect"] == "1")
        if mask.is_file():
            assert np.asarray(Image.open(mask)).any()


def test_one_kind_per_part_writes_a_class_folder_per_defect_kind(tmp_path: Path) -> None:
    root = generate(PartsSpec(parts=30, lightings=3, size=64, defect_rate=0.6,
                              defect_size=(4, 8), one_kind_per_part=True), tmp_path)
    rows = _rows(root)
    labels_of_part: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        assert row["path"].split("/")[0] == row["label"]
        assert (row["label"] != "good") == (row["defect"] == "1")
        labels_of_part[row["group"]].add(row["label"])
    assert all(len(labels) == 1 for labels in labels_of_part.values())
    assert {row["label"] for row in rows} == {"good", *DEFECT_KINDS}
    spot = next(row for row in rows if row["label"] == "spot")
    pit = next(row for row in rows if row["label"] == "pit")
    # spots are brighter than their surface, pits darker: the classes differ in what they show
    for row, brighter in ((spot, True), (pit, False)):
        image = np.asarray(Image.open(root / row["path"]), dtype=np.float32)
        mask = np.asarray(Image.open(root / "masks" / Path(row["path"]).name)) > 0
        assert (image[mask].mean() > image[~mask].mean()) == brighter


def test_classify_bench_draws_each_seeds_labels_anew(tmp_path: Path) -> None:
    """A second seed's run in the same folder must not keep the first seed's labels."""
    from bench.downstream import few_labels

    pool = tmp_path / "pool"
    for label in ("good", "pit"):
        (pool / label).mkdir(parents=True)
        for index in range(20):
            (pool / label / f"{label}{index}.png").write_bytes(b"")
    drawn = {seed: few_labels(pool, tmp_path / "labeled", 5, seed) for seed in (0, 1)}
    for label in ("good", "pit"):
        assert len(list((drawn[1] / label).iterdir())) == 5
