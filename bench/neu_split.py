"""NEU-DET as class folders: ``all/`` (unlabeled pool), ``train/`` and ``test/`` (70/30).

NEU-DET ships as ``IMAGES/<class>_<n>.jpg``. The split is stratified by class and seeded;
files are symlinked, never copied.

    python -m bench.neu_split --images ../shared/data/neu-det/IMAGES --out runs/neu
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

CLASS_PATTERN = re.compile(r"^(?P<name>.+)_(?P<number>\d+)$")


def class_of(path: Path) -> str:
    match = CLASS_PATTERN.match(path.stem)
    if match is None:
        raise ValueError(f"{path.name} does not look like <class>_<n>.jpg")
    return match["name"]


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source.resolve())


def make_splits(images: Path, out: Path, train_fraction: float = 0.7, seed: int = 0,
                per_class: int | None = None) -> dict[str, int]:
    """Symlink ``images`` into out/all, out/train/<class>, out/test/<class>; return counts."""
    by_class: dict[str, list[Path]] = {}
    for path in sorted(images.glob("*.jpg")):
        by_class.setdefault(class_of(path), []).append(path)
    if not by_class:
        raise SystemExit(f"no <class>_<n>.jpg images under {images}")
    rng = random.Random(seed)
    counts = {"all": 0, "train": 0, "test": 0}
    for name, paths in by_class.items():
        rng.shuffle(paths)
        paths = paths[:per_class] if per_class else paths
        cut = round(train_fraction * len(paths))
        for index, path in enumerate(paths):
            split = "train" if index < cut else "test"
            _link(path, out / split / name / path.name)
            _link(path, out / "all" / path.name)
            counts[split] += 1
            counts["all"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-fraction", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int)
    args = parser.parse_args()
    print(make_splits(args.images, args.out, args.train_fraction, args.seed, args.per_class))


if __name__ == "__main__":
    main()
