"""Defect detection on NEU-DET: what boxes buy, and what unlabeled images give back.

    python -m bench.detection --random-init resnet18 --minutes 10
    python -m bench.detection --checkpoint runs/pretrain/checkpoint.pt --minutes 10

NEU-DET (six kinds of steel-surface defect, Pascal VOC boxes) is split per class, fixed by
``--seed``: 70% train, 30% test. Of each class's train images ``--fraction`` (10%) keep
their boxes. Three contenders, each Faster R-CNN with an FPN on the same backbone
(``--checkpoint``, or a random-init ``--random-init`` network), each trained for about
``--minutes`` (the step count is calibrated up front: the schedules are cosines over it):

- ``all_boxes``: every train image boxed (the ceiling);
- ``few_boxes``: the 10% alone (supervised);
- ``semi``: the 10% boxed and the other 90% of train as unlabeled images (Unbiased Teacher).

Prints one JSON line for the split and one per contender: COCO mAP50 and mAP@[.5:.95] on
the test images, AP50 per class, steps and minutes. ``--per-class`` and ``--steps`` make a
quick smoke run (a few images, a fixed step count, no calibration).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from bench.neu_split import class_of
from engine.downstream.detect import train_detector
from engine.schemas.detect import DetectConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PROBE_STEPS = (2, 8)  # calibration: the step time is the difference of two short runs
CONTENDERS = ("all_boxes", "few_boxes", "semi")


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source.resolve())


def make_split(neu: Path, out: Path, fraction: float, seed: int,
               per_class: int | None = None) -> dict[str, Path]:
    """Folders of symlinks: all_boxes/ and few_boxes/ (.xml + image), unlabeled/ (images of
    train without boxes), test/ (.xml + image). Stratified by class, fixed by ``seed``."""
    by_class: dict[str, list[Path]] = {}
    for xml in sorted((neu / "ANNOTATIONS").glob("*.xml")):
        by_class.setdefault(class_of(xml), []).append(xml)
    if not by_class:
        raise SystemExit(f"no NEU-DET annotations under {neu / 'ANNOTATIONS'}")
    rng = random.Random(seed)
    folders = {name: out / name for name in ("all_boxes", "few_boxes", "unlabeled", "test")}
    for xmls in by_class.values():
        rng.shuffle(xmls)
        xmls = xmls[:per_class] if per_class else xmls
        cut = round(0.7 * len(xmls))
        train, test = xmls[:cut], xmls[cut:]
        boxed = max(1, round(fraction * len(train)))
        for index, xml in enumerate(train + test):
            image = neu / "IMAGES" / f"{xml.stem}.jpg"
            if index >= len(train):
                targets = ["test"]
            else:
                targets = ["all_boxes", "few_boxes" if index < boxed else "unlabeled"]
            for target in targets:
                _link(image, folders[target] / image.name)
                if target != "unlabeled":
                    _link(xml, folders[target] / xml.name)
    return folders


def config_for(args: argparse.Namespace, folders: dict[str, Path], contender: str,
               steps: int, **overrides: Any) -> DetectConfig:
    backbone = ({"checkpoint": str(args.checkpoint)} if args.checkpoint
                else {"architecture": args.random_init})
    fields: dict[str, Any] = {
        "backbone": backbone, "task": "detect", "annotation_format": "voc",
        "train": str(folders["all_boxes" if contender == "all_boxes" else "few_boxes"]),
        "val": str(folders["test"]), "image_size": args.image_size, "steps": steps,
        "batch_size": args.batch_size, "unlabeled_batch_size": args.batch_size,
        "rois_per_image": args.rois_per_image,
        "device": args.device, "seed": args.seed}
    if contender == "semi":
        fields["unlabeled"] = str(folders["unlabeled"])
    return DetectConfig.model_validate({**fields, **overrides})


def seconds_per_step(args: argparse.Namespace, folders: dict[str, Path], contender: str,
                     probe_val: Path, out: Path, burn_in: float) -> float:
    """One training step's time: the difference of two short runs over their step counts
    (the set-up and the measuring of the two cancel out)."""
    timings = []
    for steps in PROBE_STEPS:
        config = config_for(args, folders, contender, steps, val=str(probe_val),
                            burn_in=burn_in, warmup_steps=0)
        started = time.perf_counter()
        train_detector(config, out / f"probe_{contender}_{steps}")
        timings.append(time.perf_counter() - started)
    return max(1e-3, (timings[1] - timings[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0]))


def steps_for(args: argparse.Namespace, folders: dict[str, Path], contender: str,
              out: Path) -> int:
    """How many steps of ``contender`` fit in ``--minutes``: burn-in steps (labels alone)
    and semi-supervised ones are timed apart."""
    probe_val = out / "probe_val"
    if not probe_val.exists():
        for xml in sorted(folders["test"].glob("*.xml"))[:2]:
            _link(xml, probe_val / xml.name)
            _link(folders["test"] / f"{xml.stem}.jpg", probe_val / f"{xml.stem}.jpg")
    supervised = seconds_per_step(args, folders, "few_boxes" if contender == "semi"
                                  else contender, probe_val, out, 0.0)
    if contender != "semi":
        return max(1, int(args.minutes * 60 / supervised))
    burn_in = DetectConfig.model_fields["burn_in"].default
    semi = seconds_per_step(args, folders, contender, probe_val, out, 0.0)
    return max(1, int(args.minutes * 60 / (burn_in * supervised + (1 - burn_in) * semi)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, help="a pretrain checkpoint")
    source.add_argument("--random-init", default="resnet18", metavar="ARCHITECTURE",
                        help="random weights of this backbone (default resnet18)")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="training time of each contender")
    parser.add_argument("--steps", type=int, help="a fixed step count (no calibration)")
    parser.add_argument("--fraction", type=float, default=0.1,
                        help="share of each class's train images that keep their boxes")
    parser.add_argument("--per-class", type=int, help="NEU-DET images per class at most")
    parser.add_argument("--image-size", type=int, help="shorter side (default: native 200)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rois-per-image", type=int,
                        default=DetectConfig.model_fields["rois_per_image"].default,
                        help="proposals sampled per image for the RoI heads (on a CPU the "
                             "box head's cost is about proportional to it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, help="contenders to run")
    parser.add_argument("--neu", type=Path, default=SHARED / "neu-det")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_detection"))
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    folders = make_split(args.neu, args.out / "data", args.fraction, args.seed, args.per_class)
    emit({"bench": "detection", "split": {name: len(list(folder.glob("*.jpg")))
                                          for name, folder in folders.items()},
          "seed": args.seed, "fraction": args.fraction,
          "backbone": str(args.checkpoint) if args.checkpoint else args.random_init})
    for contender in CONTENDERS:
        if args.only and contender not in args.only:
            continue
        steps = args.steps or steps_for(args, folders, contender, args.out / "probes")
        config = config_for(args, folders, contender, steps)
        started = time.perf_counter()
        report = train_detector(config, args.out / "models" / contender)
        box = report["metrics"]["box"]
        emit({"bench": "detection", "contender": contender, "steps": steps,
              "minutes": round((time.perf_counter() - started) / 60, 2),
              "labeled_images": len(list(Path(config.train).glob("*.xml"))),
              "unlabeled_images": (len(list(folders["unlabeled"].glob("*.jpg")))
                                   if contender == "semi" else 0),
              "map_50": box["map_50"], "map": box["map"],
              "ap50_per_class": {name: scores["ap50"]
                                 for name, scores in box["per_class"].items()}})


if __name__ == "__main__":
    main()
