"""A validation split for a dataset version nobody split, that keeps each part on one side.

A finetune job trained and measured on one version holds out the images marked ``test``.
When none are, it used to measure nothing; now it holds out ``VAL_FRACTION`` of the labeled
images itself, by whole groups of shots of one physical part (``hatchery analyze``'s groups:
the same part under several lightings, repeats, duplicates), so no part is learned from and
then measured again. The groups and the split it made are kept as the job's artifacts.

    folders = held_out_split(view, "classify", work / "split")   # view: layout -> folder
    folders.train, folders.val                                   # class folders of links
    folders = held_out_split(view, "anomaly", work / "split")
    folders.train (good parts), folders.val_good, folders.val_defect, folders.held
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import HatcheryInputError
from engine.planning.splits import VAL_FRACTION, grouped_split
from worker.cache import link_or_copy


@dataclass(frozen=True)
class HeldOut:
    """Local folders of links: ``train`` (class folders, or good parts for anomaly), ``val``
    (class folders) or ``val_good`` and ``val_defect`` (anomaly); ``held`` of ``labeled``
    images went to validation, in ``groups`` groups of shots."""

    train: Path
    held: int
    labeled: int
    groups: int
    val: Path | None = None
    val_good: Path | None = None
    val_defect: Path | None = None


def part_groups(images: Path, groups_file: Path) -> dict[str, str]:
    """Uploaded path -> group of shots of one part, for every image under ``images``; the
    analysis' groups file written to ``groups_file`` on the way."""
    from engine.analysis.report import analyze_folder, read_groups, write_groups

    write_groups(analyze_folder(images), groups_file)
    return read_groups(groups_file)


def held_out_split(view: Callable[[str], Path], task: str, out: Path) -> HeldOut:
    """Split a dataset version, read through ``view`` (a cache layout -> its local folder),
    for ``task`` (classify or anomaly) into folders of links under ``out``, beside
    groups.csv (path, group) and split.csv (path, group, side)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    groups = part_groups(view("files"), out / "groups.csv")
    if task == "classify":
        classes_root = view("classes")
        classes = {path.split("/", 1)[1]: path.split("/", 1)[0]
                   for path in _relative_files(classes_root)}
        train, val = grouped_split(sorted(classes), groups, classes, VAL_FRACTION)
        for side, members in (("train", train), ("val", val)):
            for path in members:
                _link(classes_root / classes[path] / path, out / side / classes[path] / path)
        sides = {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val")}
        folders = {"train": out / "train", "val": out / "val"}
    elif task == "anomaly":
        good_root, defect_root = view("good"), view("defect")
        good, defects = _relative_files(good_root), _relative_files(defect_root)
        if len(good) < 2:
            raise HatcheryInputError(f"an anomaly model needs good parts to learn from and "
                                     f"to measure on; the version has {len(good)}")
        train, val_good = grouped_split(good, groups, {}, VAL_FRACTION)
        for side, root, members in (("good", good_root, train),
                                    ("val_good", good_root, val_good),
                                    ("val_defect", defect_root, defects)):
            for path in members:
                _link(root / path, out / side / path)
        sides = {**dict.fromkeys(train, "train"), **dict.fromkeys(val_good, "val"),
                 **dict.fromkeys(defects, "val")}
        folders = {"train": out / "good", "val_good": out / "val_good",
                   "val_defect": out / "val_defect" if defects else None}
    else:
        raise ValueError(f"no held-out split for {task}")
    _write_split(out, groups, sides)
    held = sum(1 for side in sides.values() if side == "val")
    return HeldOut(**folders, held=held, labeled=len(sides), groups=len(set(groups.values())))


def _relative_files(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.is_file() and not path.name.startswith("."))


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    link_or_copy(source, target)


def _write_split(out: Path, groups: dict[str, str], sides: dict[str, str]) -> None:
    with (out / "split.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "group", "side"])
        for path, side in sorted(sides.items()):
            writer.writerow([path, groups.get(path, ""), side])
