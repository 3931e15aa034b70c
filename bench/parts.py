"""Generated parts with known defects: the second data set every quality claim is measured on.

Each physical part is a machined surface (low-frequency unevenness plus fine directional
tool marks) shot under several lightings (gain, a gradient, gamma). A defective part carries
the same defects in every shot: dark pits, thin scratches or bright spots of a chosen size
and contrast. Written as class folders plus masks and a groups file, so splits keep the shots
of one part together:

    out/good/part017_light2.png     out/defect/part003_light0.png
    out/masks/part003_light0.png    out/groups.csv  (path,group,defect,label)

With ``one_kind_per_part`` (``--classes``) a defective part carries defects of one kind only
and its shots go to a folder named after the kind (``out/pit/``, ``out/scratch/``,
``out/spot/``), a four-class classification set beside ``out/good/``.

    python -m bench.parts --out runs/parts --parts 60 --defect-size 3 8
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class PartsSpec:
    parts: int = 48
    lightings: int = 3
    size: int = 256
    defect_rate: float = 0.35  # share of the parts that are defective
    defect_size: tuple[int, int] = (3, 10)  # pixels across
    defects_per_part: tuple[int, int] = (1, 3)
    contrast: float = 0.3  # of the local gray level
    one_kind_per_part: bool = False  # classification: class folders pit/scratch/spot
    seed: int = 0


DEFECT_KINDS = ("pit", "scratch", "spot")


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """A machined surface in [0, 1]: smooth unevenness plus fine tool marks at an angle."""
    coarse = rng.normal(0, 1, (size // 16 + 2, size // 16 + 2))
    unevenness = np.asarray(Image.fromarray(coarse.astype(np.float32), mode="F").resize(
        (size, size), Image.BICUBIC))
    angle = rng.uniform(0, math.pi)
    y, x = np.mgrid[0:size, 0:size]
    along = x * math.cos(angle) + y * math.sin(angle)
    marks = np.sin(along * rng.uniform(0.8, 1.6)) * rng.uniform(0.02, 0.05)
    grain = rng.normal(0, 0.03, (size, size))
    return 0.5 + 0.08 * unevenness / max(1e-6, np.abs(unevenness).max()) + marks + grain


def _defects(rng: np.random.Generator, spec: PartsSpec) -> list[dict]:
    count = int(rng.integers(spec.defects_per_part[0], spec.defects_per_part[1] + 1))
    if spec.one_kind_per_part:
        kinds = [rng.choice(DEFECT_KINDS)] * count
    else:
        kinds = rng.choice(list(DEFECT_KINDS), size=count)
    margin = spec.defect_size[1] * 2
    return [{"kind": str(kind), "x": float(rng.uniform(margin, spec.size - margin)),
             "y": float(rng.uniform(margin, spec.size - margin)),
             "size": float(rng.uniform(*spec.defect_size)),
             "angle": float(rng.uniform(0, math.pi))} for kind in kinds]


def _draw(defects: list[dict], size: int) -> np.ndarray:
    """float [size, size]: -1 where dark (pits, scratches), +1 where bright (spots)."""
    canvas = Image.new("F", (size, size), 0.0)
    draw = ImageDraw.Draw(canvas)
    for defect in defects:
        x, y, side = defect["x"], defect["y"], defect["size"]
        if defect["kind"] == "scratch":
            length = side * 4
            dx, dy = math.cos(defect["angle"]) * length / 2, math.sin(defect["angle"]) * length / 2
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=-1.0,
                      width=max(1, round(side / 4)))
        else:
            value = -1.0 if defect["kind"] == "pit" else 1.0
            draw.ellipse([x - side / 2, y - side / 2, x + side / 2, y + side / 2], fill=value)
    return np.asarray(canvas)


def _lighting(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    """The surface under one lighting: gain, a linear gradient, gamma."""
    size = surface.shape[0]
    y, x = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * math.pi)
    gradient = 1 + rng.uniform(0.0, 0.3) * ((x - 0.5) * math.cos(angle)
                                            + (y - 0.5) * math.sin(angle))
    lit = surface * rng.uniform(0.7, 1.3) * gradient
    return np.clip(lit, 0, 1) ** rng.uniform(0.8, 1.25)


def generate(spec: PartsSpec, out: str | Path) -> Path:
    """Write the data set (see the module docstring) to ``out``; returns ``out``."""
    out = Path(out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    defective = set(rng.choice(spec.parts, size=round(spec.parts * spec.defect_rate),
                               replace=False).tolist())
    rows = []
    for part in range(spec.parts):
        surface = _surface(rng, spec.size)
        defects = _defects(rng, spec) if part in defective else []
        marks = _draw(defects, spec.size) if defects else None
        # the part's class, which is also its folder: good, defect, or its one defect kind
        label = (defects[0]["kind"] if spec.one_kind_per_part else "defect") if defects \
            else "good"
        (out / label).mkdir(exist_ok=True)
        for light in range(spec.lightings):
            image = _lighting(rng, surface)
            name = f"part{part:03d}_light{light}.png"
            if marks is not None:
                image = np.clip(image * (1 + spec.contrast * marks), 0, 1)
                Image.fromarray(((marks != 0) * 255).astype(np.uint8)).save(
                    out / "masks" / name)
            Image.fromarray((image * 255).round().astype(np.uint8)).save(out / label / name)
            rows.append((f"{label}/{name}", f"part{part:03d}", int(marks is not None), label))
    with (out / "groups.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "group", "defect", "label"])
        writer.writerows(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--parts", type=int, default=PartsSpec.parts)
    parser.add_argument("--lightings", type=int, default=PartsSpec.lightings)
    parser.add_argument("--size", type=int, default=PartsSpec.size)
    parser.add_argument("--defect-size", type=int, nargs=2, default=PartsSpec.defect_size)
    parser.add_argument("--contrast", type=float, default=PartsSpec.contrast)
    parser.add_argument("--classes", action="store_true",
                        help="one defect kind per part, in folders pit/, scratch/, spot/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(PartsSpec(parts=args.parts, lightings=args.lightings, size=args.size,
                       defect_size=tuple(args.defect_size), contrast=args.contrast,
                       one_kind_per_part=args.classes, seed=args.seed), args.out)


if __name__ == "__main__":
    main()
