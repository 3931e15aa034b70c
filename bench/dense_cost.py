"""What the local objective costs: seconds per pretraining step with and without it.

The same recipe (Hatchery's default method, ResNet-18 with the standard stem, 64 px views cut
from 64-128 native-pixel crops, batch 64: what ``hatchery plan`` picks for small defects on a
CPU) on the same generated parts, timed by ``bench.budget``'s probe with ``dense_weight`` 0
and 1, rounds alternating; the ratio is ``engine.planning.plan.DENSE_COST``.

    python -m bench.dense_cost --out runs/bench_dense_cost
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench.budget import seconds_per_step
from bench.parts import PartsSpec, generate
from engine.schemas.pretrain import PretrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_dense_cost"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    images = generate(PartsSpec(parts=48), args.out / "parts")

    def recipe(dense_weight: float):
        return lambda steps: PretrainConfig.model_validate({
            "data": {"path": str(images / "good"), "image_size": args.image_size},
            "backbone": {"name": "resnet18", "small_input": False},
            "augment": {"crop": {"unit": "pixels", "scale": [64, 128]}},
            "loss": {"dense_weight": dense_weight}, "batch_size": 64, "steps": steps,
            "memory": {"size": 64}, "runtime": {"device": "cpu"}})

    timings: dict[str, list[float]] = {"global": [], "global+local": []}
    for _ in range(args.rounds):
        timings["global"].append(seconds_per_step(recipe(0.0)))
        timings["global+local"].append(seconds_per_step(recipe(1.0)))
    plain, dense = (statistics.median(timings[name]) for name in ("global", "global+local"))
    print(json.dumps({"bench": "dense_cost", "image_size": args.image_size,
                      "seconds_per_step": {"global": round(plain, 4),
                                           "global+local": round(dense, 4)},
                      "local_over_global": round(dense / plain, 3), "rounds": timings}))


if __name__ == "__main__":
    main()
