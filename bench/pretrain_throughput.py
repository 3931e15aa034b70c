"""Pretraining throughput: Hatchery's mocov2 and hatchery methods against lightly's MoCo v2,
and the cost of the priority memory against the FIFO queue.

Same NEU-DET images, backbone (ResNet-18, small-input stem), batch, image size and device for
every contender; contenders alternate round by round in one process so drift (thermal, other
load) hits all alike. Prints one JSON line per measurement, then a summary line with ratios.

    python -m bench.pretrain_throughput --images runs/neu/all            # CPU, ~15 min
    python -m bench.pretrain_throughput --images runs/neu/all --memory-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from engine.data.dataset import DecodedImageDataset
from engine.data.folder import scan_image_folder
from engine.data.training_set import load_training_images
from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def ours(images_dir: Path, method: str, args: argparse.Namespace, images, **runtime
         ) -> Callable[[], None]:
    config = PretrainConfig.model_validate({
        "method": method,
        "data": {"path": str(images_dir), "image_size": args.image_size},
        "backbone": {"name": "resnet18", "small_input": True},
        "batch_size": args.batch_size, "steps": 10_000,
        "runtime": {"device": args.device, **runtime},
    })
    run = PretrainRun(config, Path(tempfile.mkdtemp()) / "run", images=images)
    run.method.train()
    batches = run.batches(0)
    return lambda: run.train_step(next(batches))


def lightly(images_dir: Path, args: argparse.Namespace, autocast: bool = False
            ) -> Callable[[], None]:
    from bench.lightly_peer import LightlyTrainer

    trainer = LightlyTrainer(scan_image_folder(images_dir).paths, args.image_size,
                             args.batch_size, workers=args.lightly_workers)
    if autocast:
        trainer.model.to(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            trainer.train_step()

    return step


def time_steps(step: Callable[[], None], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        step()
    return time.perf_counter() - started


def throughput(args: argparse.Namespace) -> None:
    images = load_training_images(PretrainConfig(data={"path": str(args.images)}).data)
    contenders = {
        "lightly_mocov2": lightly(args.images, args),
        "lightly_mocov2_bf16": lightly(args.images, args, autocast=True),
        "hatchery_mocov2": ours(args.images, "mocov2", args, images),
        "hatchery_mocov2_fp32": ours(args.images, "mocov2", args, images,
                                     precision="fp32", channels_last=False),
        "hatchery_default": ours(args.images, "hatchery", args, images),
    }
    for step in contenders.values():  # warm-up: oneDNN primitives, worker start, caches
        time_steps(step, 1)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(args.rounds):
        for name, step in contenders.items():
            seconds = time_steps(step, args.steps)
            rate = args.steps * args.batch_size / seconds
            rates[name].append(rate)
            emit({"bench": "pretrain_throughput", "contender": name, "round": round_index,
                  "images_per_second": round(rate, 2)})
    medians = {name: statistics.median(values) for name, values in rates.items()}
    peer = medians["lightly_mocov2"]
    emit({"bench": "pretrain_throughput", "summary": True, "device": args.device,
          "batch_size": args.batch_size, "image_size": args.image_size,
          "median_images_per_second": {k: round(v, 2) for k, v in medians.items()},
          "ratio_vs_lightly": {k: round(v / peer, 2) for k, v in medians.items()}})


class RepeatedImages(DecodedImageDataset):
    """A decoded data set listed ``times`` times over (no extra memory)."""

    def __init__(self, base: DecodedImageDataset, times: int) -> None:
        self.__dict__.update(base.__dict__)
        self.base, self.times = base, times

    def __len__(self) -> int:
        return len(self.base) * self.times

    def image(self, index: int) -> torch.Tensor:
        return self.base.image(index % len(self.base))


def memory_cost(args: argparse.Namespace) -> None:
    """Step time of the hatchery method with a FIFO queue vs the priority memory of size K."""
    images = load_training_images(PretrainConfig(data={"path": str(args.images)}).data)
    # The trainer refuses a memory larger than the data set (keys would outnumber images).
    # To time the data structure at K = 65536 on NEU-DET's 1,770 images, the pool is the same
    # decoded images listed many times over.
    repeats = 1 + max(args.memory_sizes) // len(images.dataset)
    images.dataset = RepeatedImages(images.dataset, repeats)
    for size in args.memory_sizes:
        steps = {}
        for kind in ("fifo", "priority"):
            config = PretrainConfig.model_validate({
                "method": "hatchery",
                "data": {"path": str(args.images), "image_size": args.image_size},
                "backbone": {"name": "resnet18", "small_input": True},
                "memory": {"kind": kind, "size": size},
                "batch_size": args.batch_size, "steps": 10_000,
                "runtime": {"device": args.device},
            })
            run = PretrainRun(config, Path(tempfile.mkdtemp()) / "run", images=images)
            run.method.train()
            batches = run.batches(0)
            # Fill the memory first so every step draws from K keys.
            for _ in range(2):
                run.train_step(next(batches))
            for memory in (run.method.memory1, run.method.memory2):
                dim = memory.keys.shape[1]
                keys = torch.nn.functional.normalize(torch.randn(size, dim), dim=1)
                memory.update(keys.to(memory.keys.device), memory.draw(), None, step=run.step)
            steps[kind] = (run, batches)
        times: dict[str, list[float]] = {"fifo": [], "priority": []}
        for round_index in range(args.rounds):
            for kind, (run, batches) in steps.items():
                seconds = time_steps(lambda run=run, batches=batches:
                                     run.train_step(next(batches)), args.steps)
                times[kind].append(seconds / args.steps)
                emit({"bench": "memory_cost", "memory": kind, "size": size,
                      "round": round_index, "seconds_per_step": round(seconds / args.steps, 4)})
        fifo, priority = (statistics.median(times[k]) for k in ("fifo", "priority"))
        emit({"bench": "memory_cost", "summary": True, "size": size, "device": args.device,
              "fifo_seconds_per_step": round(fifo, 4),
              "priority_seconds_per_step": round(priority, 4),
              "priority_overhead_percent": round(100 * (priority / fifo - 1), 2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("runs/neu/all"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round")
    parser.add_argument("--lightly-workers", type=int, default=2)
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[16384, 65536])
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--throughput-only", action="store_true")
    args = parser.parse_args()
    if not args.memory_only:
        throughput(args)
    if not args.throughput_only:
        memory_cost(args)


if __name__ == "__main__":
    main()
