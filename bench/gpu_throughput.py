"""GPU pretraining throughput: our recipe against a plain one, same model code, same images.

- ``ours``: bf16 autocast, channels-last, decoded images cached, batched two-view
  augmentation on the GPU (engine/data/augment.py).
- ``plain``: fp32, contiguous tensors, per-image PIL augmentations (torchvision transforms,
  MoCo v2's recipe) in DataLoader workers: how such code is usually written.
Both run our MoCo v2 (and the hatchery method) with ResNet-50 at 224 px. Reports images/s and
model-FLOPs utilization (FLOPs of one step counted by torch.utils.flop_counter, over the
bf16 dense peak), then the priority memory's step-time cost against the FIFO queue at K=65536.

    python -m bench.gpu_throughput --images DIR [--batch-size 256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from engine.data.folder import scan_image_folder
from engine.data.training_set import load_training_images
from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun

BF16_DENSE_PEAK = {"H100": 989e12, "H200": 989e12}  # datasheet, SXM, dense


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def peak_flops() -> float:
    name = device_name()
    return next((value for key, value in BF16_DENSE_PEAK.items() if key in name), 989e12)


def make_run(args: argparse.Namespace, method: str, images, **overrides) -> PretrainRun:
    fields = {
        "method": method,
        "data": {"path": str(args.images), "image_size": 224},
        "backbone": {"name": "resnet50", "small_input": False},
        "batch_size": args.batch_size, "steps": 100_000,
        "runtime": {"device": args.device, "checkpoint_every": 100_000},
    }
    for key, value in overrides.items():
        fields[key] = {**fields.get(key, {}), **value}
    return PretrainRun(PretrainConfig.model_validate(fields), Path(tempfile.mkdtemp()) / "r",
                       images=images)


class TwoPilViews(Dataset):
    """MoCo v2's per-image PIL pipeline, two views per image (the plain recipe)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(224, scale=(0.2, 1.0)),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
            transforms.RandomApply([transforms.GaussianBlur(23, (0.1, 2.0))], p=0.5),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            image = image.convert("RGB")
            return self.transform(image), self.transform(image)


def ours_step(run: PretrainRun):
    batches = run.batches(0)
    return lambda: run.train_step(next(batches))


def plain_step(run: PretrainRun, args: argparse.Namespace):
    paths = scan_image_folder(args.images).paths
    loader = DataLoader(TwoPilViews(paths), batch_size=args.batch_size, shuffle=True,
                        drop_last=True, num_workers=args.workers, persistent_workers=True,
                        pin_memory=True)

    def forever():
        while True:
            yield from loader

    views = forever()

    def step() -> None:
        view1, view2 = (v.to(run.device, non_blocking=True) for v in next(views))
        output = run.method(view1, view2)
        run.optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        run.optimizer.step()
        run.method.after_optimizer_step(run.step)
        run.step += 1

    return step


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def images_per_second(step, batch_size: int, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps * batch_size / (time.perf_counter() - started)


def flops_per_step(run: PretrainRun, channels: int) -> float:
    view = torch.randn(run.config.batch_size, channels, 224, 224, device=run.device)
    with FlopCounterMode(display=False) as counter:
        output = run.method(view, view.clone())
        output.loss.backward()
    run.optimizer.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def throughput(args: argparse.Namespace, images) -> None:
    peak = peak_flops()
    for method in args.methods:
        ours_run = make_run(args, method, images)
        ours_run.method.train()
        flops = flops_per_step(ours_run, images.channels)
        contenders = {"ours": ours_step(ours_run)}
        if "ours_fp32" in args.contenders:
            # Same batched GPU pipeline, but fp32 and contiguous: isolates precision/layout.
            fp32_run = make_run(args, method, images,
                                runtime={"precision": "fp32", "channels_last": False})
            fp32_run.method.train()
            contenders["ours_fp32"] = ours_step(fp32_run)
        if "plain" in args.contenders:
            # The plain recipe feeds RGB tensors, so its model takes 3 channels.
            plain_run = make_run(args, method, images_as_rgb(images),
                                 runtime={"precision": "fp32", "channels_last": False})
            plain_run.method.train()
            contenders["plain"] = plain_step(plain_run, args)
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for step in contenders.values():
            images_per_second(step, args.batch_size, warmup=3, steps=1)
        for round_index in range(args.rounds):
            for name, step in contenders.items():
                rate = images_per_second(step, args.batch_size, warmup=0, steps=args.steps)
                rates[name].append(rate)
                emit({"bench": "gpu_throughput", "method": method, "contender": name,
                      "round": round_index, "images_per_second": round(rate, 1)})
        medians = {name: statistics.median(values) for name, values in rates.items()}
        mfu = {name: medians[name] / args.batch_size * flops / peak for name in medians}
        emit({"bench": "gpu_throughput", "summary": True, "method": method,
              "device": device_name(), "batch_size": args.batch_size,
              "flops_per_image": round(flops / args.batch_size / 1e9, 2),
              "images_per_second": {k: round(v, 1) for k, v in medians.items()},
              "mfu_percent": {k: round(100 * v, 1) for k, v in mfu.items()},
              "speedup": {k: round(medians["ours"] / v, 2) for k, v in medians.items()},
              "peak_memory_gib": round(peak_memory_gib(), 1)})
        del ours_run, contenders
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def peak_memory_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def images_as_rgb(images):
    """The same cached images described as 3-channel (the plain recipe's model input)."""
    from dataclasses import replace

    from engine.data.folder import ImageFormat

    rgb = replace(images, image_format=ImageFormat(3, images.image_format.bit_depth),
                  mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    return rgb


def memory_cost(args: argparse.Namespace, images) -> None:
    from bench.pretrain_throughput import RepeatedImages

    images.dataset = RepeatedImages(images.dataset, 1 + 65536 // len(images.dataset))
    runs = {kind: make_run(args, "hatchery", images, memory={"kind": kind, "size": 65536})
            for kind in ("fifo", "priority")}
    steps = {kind: ours_step(run) for kind, run in runs.items()}
    times: dict[str, list[float]] = {kind: [] for kind in steps}
    for step in steps.values():
        images_per_second(step, args.batch_size, warmup=3, steps=1)
    for _ in range(args.rounds):
        for kind, step in steps.items():
            times[kind].append(args.batch_size / images_per_second(step, args.batch_size, 0,
                                                                   args.steps))
    fifo, priority = (statistics.median(times[k]) for k in ("fifo", "priority"))
    emit({"bench": "gpu_memory_cost", "summary": True, "size": 65536, "device": device_name(),
          "fifo_seconds_per_step": round(fifo, 4), "priority_seconds_per_step": round(priority, 4),
          "priority_overhead_percent": round(100 * (priority / fifo - 1), 2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--methods", nargs="+", default=["mocov2", "hatchery"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--contenders", nargs="+", default=["ours", "ours_fp32", "plain"])
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    images = load_training_images(PretrainConfig(data={"path": str(args.images)}).data)
    emit({"bench": "gpu_env", "device": device_name(),
          "torch": torch.__version__, "images": len(images.dataset)})
    throughput(args, images)
    if not args.skip_memory:
        memory_cost(args, images)


if __name__ == "__main__":
    main()
