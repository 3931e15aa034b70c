"""Does pretraining help? kNN balanced accuracy on NEU-DET after a fixed CPU time budget.

Three contenders, evaluated with the same protocol (weighted kNN, k=20, T=0.07, on a
stratified 70/30 split, features pooled over native-resolution tiles):
- ``hatchery``: our default method for ``--budget-minutes`` of wall-clock training;
- ``lightly``: lightly's MoCo v2 (bench/lightly_peer.py) for the same time, same backbone;
- ``random``: the same backbones with random weights.
The unlabeled pool is all 1,770 images (the labels of the test split are never used in
training). Prints one JSON line per contender and a summary.

    python -m bench.learning_check --budget-minutes 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.budget import seconds_per_step
from bench.neu_split import make_splits
from engine.backbones.resnet import ResNetBackbone
from engine.data.folder import ImageFormat, scan_image_folder
from engine.eval.features import EmbeddingSetup
from engine.eval.monitor import KnnMonitor
from engine.schemas.pretrain import CropConfig, PretrainConfig
from engine.train.pretrain import PretrainRun

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def hatchery_config(args: argparse.Namespace, steps: int) -> PretrainConfig:
    return PretrainConfig.model_validate({
        "method": args.method,
        "data": {"path": str(args.splits / "all"),
                 "image_size": args.train_image_size or args.image_size},
        "backbone": {"name": "resnet18", "small_input": args.small_input},
        "batch_size": args.batch_size,
        "steps": steps,
        "runtime": {"device": "cpu", "log_every": 10, "checkpoint_every": 100_000},
        **json.loads(args.override),
    })


def knn_balanced_accuracy(monitor: KnnMonitor, backbone: torch.nn.Module) -> dict:
    report = monitor.evaluate(backbone)
    return {k: round(v["balanced_accuracy"], 4) for k, v in report.items()} | {
        "top1_k20": round(report["k=20"]["top1"], 4)}


def run_hatchery(args: argparse.Namespace) -> dict:
    """Calibrate steps from a probe so the run fits the budget (bench/budget.py), then
    train."""
    step_seconds = seconds_per_step(lambda steps: hatchery_config(args, steps))
    emit({"bench": "learning_check", "probe_seconds_per_step": round(step_seconds, 3)})
    steps = max(1, int(args.budget_minutes * 60 / step_seconds))
    out = args.out / "hatchery"
    run = PretrainRun(hatchery_config(args, steps), out)
    started = time.perf_counter()
    result = run.run()
    minutes = (time.perf_counter() - started) / 60
    monitor = KnnMonitor(args.splits / "train", args.splits / "test", run.images.image_format,
                         EmbeddingSetup(args.image_size, run.config.augment.crop,
                                        run.images.mean, run.images.std), torch.device("cpu"))
    trained = knn_balanced_accuracy(monitor, run.method.backbone)
    torch.manual_seed(1)
    random_backbone = ResNetBackbone("resnet18", run.images.channels, args.small_input)
    return {
        "hatchery": {"steps": result.step, "train_minutes": round(minutes, 2), **trained},
        "random_hatchery_backbone": knn_balanced_accuracy(monitor, random_backbone),
    }


def run_lightly(args: argparse.Namespace) -> dict:
    from bench.lightly_peer import LightlyTrainer

    paths = scan_image_folder(args.splits / "all").paths
    trainer = LightlyTrainer(paths, args.image_size, args.batch_size, workers=2,
                             small_input=args.small_input)
    started = time.perf_counter()
    steps = trainer.train_for(args.budget_minutes * 60)
    minutes = (time.perf_counter() - started) / 60
    setup = EmbeddingSetup(args.image_size, CropConfig(scale=(0.2, 1.0)), IMAGENET_MEAN,
                           IMAGENET_STD)
    monitor = KnnMonitor(args.splits / "train", args.splits / "test",
                         ImageFormat(channels=3, bit_depth=8), setup, torch.device("cpu"))
    trained = knn_balanced_accuracy(monitor, trainer.model.backbone)
    torch.manual_seed(1)
    random_backbone = ResNetBackbone("resnet18", 3, args.small_input)
    return {
        "lightly": {"steps": steps, "train_minutes": round(minutes, 2), **trained},
        "random_lightly_backbone": knn_balanced_accuracy(monitor, random_backbone),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/neu-det/IMAGES"))
    parser.add_argument("--splits", type=Path, default=Path("runs/neu"))
    parser.add_argument("--out", type=Path, default=Path("runs/learning_check"))
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--method", default="hatchery")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--train-image-size", type=int,
                        help="our training views' size (default: --image-size); every "
                             "contender is evaluated at --image-size")
    parser.add_argument("--small-input", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--override", default="{}",
                        help="JSON merged into the PretrainConfig, e.g. '{\"optim\": {...}}'")
    parser.add_argument("--only", choices=("hatchery", "lightly"))
    args = parser.parse_args()
    make_splits(args.images, args.splits)
    if args.out.exists():
        import shutil

        shutil.rmtree(args.out)
    results: dict = {"budget_minutes": args.budget_minutes, "image_size": args.image_size,
                     "hatchery_train_image_size": args.train_image_size or args.image_size,
                     "small_input": args.small_input, "batch_size": args.batch_size}
    # lightly first: it trains to a wall-clock deadline, so its figure is only fair on a quiet
    # machine; ours trains a step count fixed by the probe, which contention cannot change.
    if args.only != "hatchery":
        results |= run_lightly(args)
        emit({"bench": "learning_check", **results})
    if args.only != "lightly":
        results |= run_hatchery(args)
        emit({"bench": "learning_check", **results})
    if "hatchery" in results and "lightly" in results:
        ours = results["hatchery"]["k=20"]
        emit({"bench": "learning_check", "summary": True,
              "hatchery_minus_random_points": round(100 * (
                  ours - results["random_hatchery_backbone"]["k=20"]), 1),
              "hatchery_minus_lightly_points": round(100 * (
                  ours - results["lightly"]["k=20"]), 1)})


if __name__ == "__main__":
    main()
