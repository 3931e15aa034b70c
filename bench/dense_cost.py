"""What the local subtasks cost: seconds per pretraining step with and without them.

The same recipe (Hatchery's default method, ResNet-18 with the standard stem, 64 px views cut
from 64-128 native-pixel crops, batch 64: what ``hatchery plan`` picks for small defects on a
CPU) on the same generated parts, timed by ``bench.budget``'s probe: the global objective
alone, with the local objective (``dense_weight`` 1), with the synthetic defects too
(``defect_weight`` 1), and with the local objective plus two local crops (multi-crop),
rounds alternating; the first ratio is ``engine.planning.plan.DENSE_COST`` (the planner
leaves synthetic defects off).

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

    def recipe(dense_weight: float, defect_weight: float, local_crops: int):
        return lambda steps: PretrainConfig.model_validate({
            "data": {"path": str(images / "good"), "image_size": args.image_size},
            "backbone": {"name": "resnet18", "small_input": False},
            "augment": {"crop": {"unit": "pixels", "scale": [64, 128]},
                        "local_crops": {"count": local_crops}},
            "loss": {"dense_weight": dense_weight, "defect_weight": defect_weight},
            "batch_size": 64, "steps": steps, "memory": {"size": 64},
            "runtime": {"device": "cpu"}})

    variants = {"global": (0.0, 0.0, 0), "global+local": (1.0, 0.0, 0),
                "global+local+defects": (1.0, 1.0, 0), "global+local+2 local crops": (1.0, 0.0, 2)}
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, weights in variants.items():
            timings[name].append(seconds_per_step(recipe(*weights)))
    medians = {name: statistics.median(times) for name, times in timings.items()}
    print(json.dumps({
        "bench": "dense_cost", "image_size": args.image_size,
        "seconds_per_step": {name: round(value, 4) for name, value in medians.items()},
        "local_over_global": round(medians["global+local"] / medians["global"], 3),
        "defects_over_local": round(medians["global+local+defects"]
                                    / medians["global+local"], 3),
        "local_crops_over_local": round(medians["global+local+2 local crops"]
                                        / medians["global+local"], 3),
        "rounds": timings}))

if __name__ == "__main__":
    main()
