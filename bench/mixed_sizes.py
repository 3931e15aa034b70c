"""Images of different sizes against images of one size: seconds per pretraining step.

Two folders of generated parts with the same count and the same mean area: one of 400 x 400
px images, one of images from 200 to 600 px a side (width and height drawn apart). The same
recipe (Hatchery's default as ``hatchery pretrain`` runs it, 64 px views) is timed on both in
one process, each by the median of ``bench.budget``'s probe steps, rounds alternating.

    python -m bench.mixed_sizes --out runs/bench_mixed
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from bench.budget import seconds_per_step
from engine.schemas.pretrain import PretrainConfig


def write_folder(out: Path, sizes: list[tuple[int, int]], seed: int) -> Path:
    """Textured gray images of the given (width, height) into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate(sizes):
        coarse = rng.normal(0.5, 0.1, (height // 16 + 2, width // 16 + 2)).astype(np.float32)
        image = np.asarray(Image.fromarray(coarse, mode="F").resize((width, height)))
        image = image + rng.normal(0, 0.03, (height, width))
        Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).save(
            out / f"{index:04d}.png")
    return out


def mixed_sizes(count: int, seed: int) -> list[tuple[int, int]]:
    """Sides uniform in 200..600 px, drawn apart, rescaled so the mean area is 400 x 400."""
    rng = np.random.default_rng(seed)
    sides = rng.uniform(200, 600, (count, 2))
    scale = math.sqrt(400 * 400 / float((sides[:, 0] * sides[:, 1]).mean()))
    return [(int(np.clip(w * scale, 200, 600)), int(np.clip(h * scale, 200, 600)))
            for w, h in sides]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_mixed"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folders = {"fixed": write_folder(args.out / "fixed", [(400, 400)] * args.images, 0),
               "mixed": write_folder(args.out / "mixed", mixed_sizes(args.images, 1), 1)}
    timings: dict[str, list[float]] = {name: [] for name in folders}
    for _ in range(args.rounds):
        for name, folder in folders.items():
            timings[name].append(seconds_per_step(lambda steps, folder=folder: (
                PretrainConfig.model_validate({"data": {"path": str(folder)},
                                               "batch_size": 64, "steps": steps,
                                               "runtime": {"device": "cpu"}}))))
    fixed, mixed = (statistics.median(timings[name]) for name in ("fixed", "mixed"))
    print(json.dumps({"bench": "mixed_sizes", "seconds_per_step": {
        "fixed_400px": round(fixed, 4), "mixed_200_600px": round(mixed, 4)},
        "mixed_over_fixed": round(mixed / fixed, 3), "rounds": timings}))


if __name__ == "__main__":
    main()
