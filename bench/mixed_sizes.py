"""Images of different sizes against images of one size: seconds per pretraining step.

Two folders of generated parts with the same count and the same mean area: one of 400 x 400
px images, one of images from 200 to 600 px a side (width and height drawn apart). The same
recipe (Hatchery's default as ``hatchery pretrain`` runs it, 64 px views) is timed on the
fixed folder and on the mixed one with and without batches cut by size
(``data.bucket_by_size``), in one process, each by the median of ``bench.budget``'s probe
steps, rounds alternating. It also counts the pixels of the padded batches of one epoch
(what the float copy is as large as): a figure no other load on the machine changes.

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
from engine.train.pretrain import PretrainRun


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
    contenders = {"fixed_400px": (folders["fixed"], "auto"),
                  "mixed_unbucketed": (folders["mixed"], False),
                  "mixed_bucketed": (folders["mixed"], True)}

    def config(folder: Path, bucket: bool | str, steps: int) -> PretrainConfig:
        return PretrainConfig.model_validate({
            "data": {"path": str(folder), "bucket_by_size": bucket}, "batch_size": 64,
            "steps": steps, "runtime": {"device": "cpu"}})

    padded = {name: padded_pixels(config(folder, bucket, 1), args.out / "padding" / name)
              for name, (folder, bucket) in contenders.items()}
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (folder, bucket) in contenders.items():
            timings[name].append(seconds_per_step(
                lambda steps, folder=folder, bucket=bucket: config(folder, bucket, steps)))
    medians = {name: statistics.median(times) for name, times in timings.items()}
    print(json.dumps({
        "bench": "mixed_sizes",
        "seconds_per_step": {name: round(value, 4) for name, value in medians.items()},
        "over_fixed": {name: round(value / medians["fixed_400px"], 3)
                       for name, value in medians.items()},
        "padded_megapixels_per_epoch": {name: round(value / 1e6, 2)
                                        for name, value in padded.items()},
        "rounds": timings}))


def padded_pixels(config: PretrainConfig, out: Path) -> int:
    """Pixels of one epoch's padded batches (batch size x the largest height x the largest
    width of each batch), as the run's sampler cuts them."""
    run = PretrainRun(config, out)
    total = 0
    for step, batch in enumerate(run.batches(0)):
        if step == run.steps_per_epoch:
            break
        total += batch.images.shape[0] * batch.images.shape[2] * batch.images.shape[3]
    return total

if __name__ == "__main__":
    main()
