"""Downstream quality: the models a factory runs, each beside its baselines, on two data sets.

    python -m bench.downstream anomaly --dataset kolektorsdd --pretrain-minutes 10
    python -m bench.downstream anomaly --dataset generated --pretrain-minutes 10
    python -m bench.downstream classify --labels-per-class 5 10 20 --pretrain-minutes 20
    python -m bench.downstream classify --dataset parts --labels-per-class 10

Pretraining recipes (``--recipes``), each for ``--pretrain-minutes`` on the data set's
unlabeled images (the step count from a throughput probe, so every recipe gets the same
time): ``default`` (what ``hatchery pretrain --data`` runs without other flags), ``planned``
(what ``hatchery plan`` chooses for the data and the task, local objective included when it
says so) and ``fixed`` (the bench's earlier hand-set recipe: standard stem, ``--crop-pixels``
crops for anomaly, 20-100% crops for classify); or one ``--checkpoint``.

anomaly (PatchCore, trained on good parts only): contenders ``raw_pixels``, ``random`` (a
random-init ResNet-18) and one per recipe. Splits keep the shots of
one physical part together:
- kolektorsdd: its train/val split (images 0-319 / 320-398) is by commutator (the data set's
  50 commutators were shot 8 times each, numbered in order: 320 = 40 commutators); the
  memory bank learns from train's good images, the model is measured on all of val;
- generated (bench/parts.py): 48 parts x 3 lightings; 70% of the good parts train, the
  other good parts and every defective part are measured.

classify (``--dataset``): per class, ``n`` labeled images of a fixed train pool, the rest of
the pool unlabeled, a fixed test set of 30%:
- neu (NEU-DET): six whole-image texture classes, 300 images each, split by image (NEU has
  no parts to keep together);
- parts (bench/parts.py with one defect kind per part): good, pit, scratch and spot, local
  defects on machined surfaces; 240 parts x 3 lightings at 128 px, 45% of them defective;
  30% of each class's parts (every shot of them) are the test set.
Contenders: ``supervised`` (random init, labels only), ``fixmatch_random`` (FixMatch from
random init: what semi-supervision does without pretraining), ``linear_<recipe>`` and
``fixmatch_<recipe>`` on each pretrained backbone, and linear probes on a random-init
backbone and on raw pixels.

Prints one JSON line per contender; the wall-clock minutes of each are in its line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.budget import Recipe, steps_for_each
from bench.neu_split import make_splits
from bench.parts import PartsSpec, generate
from engine.analysis.report import analyze_folder, write_groups
from engine.downstream.anomaly import train_anomaly
from engine.downstream.classify import PSEUDO_LABELS_FILE, train_classifier
from engine.planning.plan import PRETRAIN_SHARE, make_plan
from engine.schemas.finetune import (
    AnomalyConfig,
    AnomalySettings,
    ClassifyConfig,
    ClassifySettings,
)
from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source.resolve())


# ------------------------------------------------------------------------------- data sets
def kolektorsdd(root: Path, out: Path) -> dict[str, Path]:
    """good/ (train's good images), unlabeled/ (all of train), val_good/, val_defect/, and
    the YOLO polygon labels of val as masks."""
    data = root / "kolektorsdd" / "Datasets"
    for split in ("train", "val"):
        for image in sorted((data / "images" / split).glob("*.jpg")):
            defective = (data / "labels" / split / f"{image.stem}.txt").stat().st_size > 0
            if split == "train":
                _link(image, out / "unlabeled" / image.name)
                if not defective:
                    _link(image, out / "good" / image.name)
            else:
                _link(image, out / ("val_defect" if defective else "val_good") / image.name)
    return {"good": out / "good", "unlabeled": out / "unlabeled", "val_good": out / "val_good",
            "val_defect": out / "val_defect", "masks": data / "labels" / "val"}


def generated(out: Path, seed: int = 0) -> dict[str, Path]:
    """bench/parts.py's parts, split by part: 70% of the good parts train."""
    source = generate(PartsSpec(seed=seed), out / "source")
    with (source / "groups.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    good_parts = sorted({row["group"] for row in rows if row["defect"] == "0"})
    random.Random(seed).shuffle(good_parts)
    training = set(good_parts[:round(0.7 * len(good_parts))])
    for row in rows:
        image = source / row["path"]
        _link(image, out / "unlabeled" / image.name)
        if row["defect"] == "1":
            _link(image, out / "val_defect" / image.name)
        else:
            _link(image, out / ("good" if row["group"] in training else "val_good") / image.name)
    return {"good": out / "good", "unlabeled": out / "unlabeled", "val_good": out / "val_good",
            "val_defect": out / "val_defect", "masks": source / "masks"}


# ------------------------------------------------------------------------------ pretraining
RUNTIME = {"log_every": 10, "checkpoint_every": 100_000}


def fixed_recipe(images: Path, image_size: int, crop: dict[str, Any]) -> Recipe:
    """The bench's hand-set recipe: Hatchery's default method with the standard stem (the
    small-input one would give the patch models 16 times as many patches per image, at 4
    times the detail the crops taught) on ``crop``."""
    return lambda steps: PretrainConfig.model_validate({
        "data": {"path": str(images), "image_size": image_size},
        "backbone": {"name": "resnet18", "small_input": False},
        "augment": {"crop": crop}, "batch_size": 64, "steps": steps, "runtime": RUNTIME})


def default_recipe(images: Path) -> Recipe:
    """What ``hatchery pretrain --data IMAGES --steps N`` runs: no other flag."""
    return lambda steps: PretrainConfig.model_validate({
        "data": {"path": str(images)}, "steps": steps, "runtime": RUNTIME})


def planned_recipe(images: Path, task: str, minutes: float, masks: Path | None = None,
                   override: dict[str, Any] | None = None) -> Recipe:
    """What ``hatchery plan --data IMAGES --task TASK`` chooses for ``minutes`` of
    pretraining (defect sizes from ``masks`` when given), with ``override`` (an ablation:
    sections merged into the plan's config); the step count is the bench's. The analysis'
    groups of shots go beside ``images`` (``groups.csv``) and into ``data.groups``, for the
    ablations that read them (``augment.other_shot_prob``, ``memory.exclude_own_keys``)."""
    report = analyze_folder(images, masks=masks)
    groups = images.parent / "groups.csv"
    write_groups(report, groups)
    plan = make_plan(report.as_dict(), task, minutes / PRETRAIN_SHARE[task], "cpu",
                     data_path=str(images))
    emit({"bench": "downstream", "plan": [f"{r.choice} = {r.value}" for r in plan.reasons],
          "override": override or {}})
    tree = plan.pretrain.model_dump(mode="json")
    tree["data"]["groups"] = str(groups)  # read only when an override turns shots on
    for section, values in (override or {}).items():
        tree[section] = {**tree[section], **values} if isinstance(values, dict) else values
    return lambda steps: PretrainConfig.model_validate(
        {**tree, "steps": steps, "runtime": {**tree["runtime"], **RUNTIME}})


def pretrain(recipe: Recipe, name: str, out: Path, steps: int) -> Path:
    """``recipe`` for ``steps``; the checkpoint."""
    started = time.perf_counter()
    config = recipe(steps)
    result = PretrainRun(config, out).run()
    emit({"bench": "downstream", "pretrain": name, "data": config.data.path,
          "steps": result.step, "minutes": round((time.perf_counter() - started) / 60, 2),
          "image_size": config.data.image_size, "crop": config.augment.crop.model_dump(),
          "dense_weight": config.loss.dense_weight,
          "global_weight": config.loss.global_weight, "batch_size": config.batch_size,
          "other_shot_prob": config.augment.other_shot_prob,
          "view_overlap": config.augment.view_overlap,
          "exclude_own_keys": config.memory.exclude_own_keys})
    return out / "checkpoint.pt"


def pretrain_all(recipes: dict[str, Recipe], out: Path, minutes: float,
                 steps: int | None = None) -> dict[str, Path]:
    """Each recipe for ``steps``, or for about ``minutes`` each (step counts from probes of
    all of them, timed in alternating rounds) when None -> name: checkpoint."""
    counts = ({name: steps for name in recipes} if steps
              else steps_for_each(minutes, recipes))
    emit({"bench": "downstream", "budget_minutes": minutes, "steps": counts})
    return {name: pretrain(recipe, name, out / name, counts[name])
            for name, recipe in recipes.items()}


def recipes_for(names: list[str], images: Path, task: str, minutes: float,
                fixed_crop: dict[str, Any], image_size: int, masks: Path | None = None,
                planned_override: dict[str, Any] | None = None) -> dict[str, Recipe]:
    builders: dict[str, Callable[[], Recipe]] = {
        "fixed": lambda: fixed_recipe(images, image_size, fixed_crop),
        "default": lambda: default_recipe(images),
        "planned": lambda: planned_recipe(images, task, minutes, masks, planned_override)}
    return {name: builders[name]() for name in names}


# ---------------------------------------------------------------------------------- anomaly
def run_anomaly(args: argparse.Namespace) -> None:
    folders = (kolektorsdd(SHARED, args.out / "data") if args.dataset == "kolektorsdd"
               else generated(args.out / "data"))
    checkpoints: dict[str, Path] = {}
    if args.checkpoint is not None:
        checkpoints["pretrained"] = args.checkpoint
    elif args.pretrain_minutes > 0:
        crop = {"unit": "pixels", "scale": list(args.crop_pixels)}
        recipes = recipes_for([r for r in args.recipes if not args.only or r in args.only],
                              folders["unlabeled"], "anomaly", args.pretrain_minutes, crop,
                              args.image_size, planned_override=args.planned_override)
        checkpoints.update(pretrain_all(recipes, args.out, args.pretrain_minutes,
                                        args.pretrain_steps))
    contenders: dict[str, dict[str, Any]] = {
        "raw_pixels": {"architecture": "raw_pixels"},
        "random": {"architecture": "resnet18"},
        **{name: {"checkpoint": str(path)} for name, path in checkpoints.items()}}
    for name, backbone in contenders.items():
        if args.only and name not in args.only:
            continue
        scale = None if name in checkpoints else args.input_scale
        config = AnomalyConfig(backbone=backbone, good=str(folders["good"]),
                               val_good=str(folders["val_good"]),
                               val_defect=str(folders["val_defect"]),
                               masks=str(folders["masks"]), input_scale=scale,
                               bank_size=args.bank_size,
                               patches_per_image=args.patches_per_image, device=args.device,
                               seed=args.seed, fit_normalization=args.fit_normalization)
        started = time.perf_counter()
        report = train_anomaly(config, args.out / "models" / name)
        emit({"bench": "downstream", "task": "anomaly", "dataset": args.dataset,
              "contender": name, "input_scale": round(report["input_scale"], 4),
              "minutes": round((time.perf_counter() - started) / 60, 2),
              **{key: report["metrics"][key] for key in ("image_auroc", "pixel_auroc",
                                                          "aupro")},
              "f1": report["metrics"]["f1"]["f1"]})


# --------------------------------------------------------------------------------- classify
PARTS_CLASSES = PartsSpec(parts=240, size=128, defect_rate=0.45, defect_size=(6, 14),
                          one_kind_per_part=True)


def parts_splits(out: Path, seed: int = 0) -> Path:
    """bench/parts.py's classification parts -> out/all, out/train/<class>, out/test/<class>:
    30% of each class's parts, every shot of them, are the test set."""
    source = generate(PARTS_CLASSES, out / "source")
    with (source / "groups.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    for label in sorted({row["label"] for row in rows}):
        parts = sorted({row["group"] for row in rows if row["label"] == label})
        rng.shuffle(parts)
        testing = set(parts[:round(0.3 * len(parts))])
        for row in rows:
            if row["label"] == label:
                image = source / row["path"]
                side = "test" if row["group"] in testing else "train"
                _link(image, out / side / label / image.name)
                _link(image, out / "all" / image.name)
    return out


def classify_splits(dataset: str, out: Path) -> Path:
    """all/ (pretraining), train/<class>/ (the labeled pool), test/<class>/."""
    if dataset == "parts":
        return parts_splits(out / "parts")
    make_splits(SHARED / "neu-det" / "IMAGES", out / "neu")
    return out / "neu"


def few_labels(pool: Path, out: Path, per_class: int, seed: int) -> Path:
    """``per_class`` labeled images of each class of ``pool`` (class folders) -> out/<class>/,
    made anew: a run with ``--checkpoint`` keeps ``--out``, and another seed's links left
    there would add to this seed's labels."""
    shutil.rmtree(out, ignore_errors=True)
    rng = random.Random(seed)
    for folder in sorted(p for p in pool.iterdir() if p.is_dir()):
        images = sorted(folder.iterdir())
        rng.shuffle(images)
        for image in images[:per_class]:
            _link(image, out / folder.name / image.name)
    return out


def pseudo_label_quality(model: Path, pool: Path) -> dict[str, Any]:
    """How right FixMatch's confident pseudo-labels were: ``model``'s pseudo_labels.json
    against the classes of the unlabeled images (``pool``'s class folders, the bench's
    unlabeled folder holding links by file name). accuracy: of the confidently labeled
    images; recall: per true class, the share of its images confidently labeled as it."""
    record = json.loads((model / PSEUDO_LABELS_FILE).read_text())
    truth = {image.name: image.parent.name for image in pool.glob("*/*")}
    taken = record["images"]
    right = [name for name, label in taken.items() if truth[name] == label]
    classes = sorted(set(truth.values()))
    return {"confidently_labeled": round(len(taken) / record["unlabeled_images"], 3),
            "accuracy": round(len(right) / max(len(taken), 1), 3),
            "used_fraction": record["used_fraction"],
            "recall": {name: round(sum(truth[image] == name for image in right)
                                   / sum(label == name for label in truth.values()), 3)
                       for name in classes}}


def run_classify(args: argparse.Namespace) -> None:
    splits = classify_splits(args.dataset, args.out)
    unlabeled = splits / "train_unlabeled"
    for image in (splits / "train").glob("*/*"):
        _link(image, unlabeled / image.name)
    checkpoints: dict[str, Path] = {}
    if args.checkpoint is not None:
        checkpoints["fixed"] = args.checkpoint
    elif args.pretrain_minutes > 0:
        recipes = recipes_for(args.recipes, splits / "all", "classify", args.pretrain_minutes,
                              {"unit": "fraction", "scale": [0.2, 1.0]}, args.image_size,
                              planned_override=args.planned_override)
        checkpoints.update(pretrain_all(recipes, args.out, args.pretrain_minutes,
                                        args.pretrain_steps))
    for per_class in args.labels_per_class:
        labeled = few_labels(splits / "train", args.out / f"labeled_{per_class}", per_class,
                             args.seed)
        contenders: dict[str, tuple[str, dict[str, Any]]] = {
            "supervised": ("supervised", {"architecture": "resnet18"}),
            "linear_raw_pixels": ("linear", {"architecture": "raw_pixels"}),
            "linear_random": ("linear", {"architecture": "resnet18"}),
            "fixmatch_random": ("fixmatch", {"architecture": "resnet18"})}
        for recipe, checkpoint in checkpoints.items():
            contenders[f"linear_{recipe}"] = ("linear", {"checkpoint": str(checkpoint)})
            contenders[f"fixmatch_{recipe}"] = ("fixmatch", {"checkpoint": str(checkpoint)})
        for name, (method, backbone) in contenders.items():
            if args.only and name not in args.only:
                continue
            config = ClassifyConfig(backbone=backbone, method=method, labeled=str(labeled),
                                    unlabeled=str(unlabeled) if method == "fixmatch" else None,
                                    val=str(splits / "test"), image_size=args.image_size,
                                    steps=args.steps, device=args.device, seed=args.seed,
                                    **args.classify_override)
            started = time.perf_counter()
            model = args.out / "models" / f"{name}_{per_class}"
            report = train_classifier(config, model)
            metrics = report["metrics"]
            line = {"bench": "downstream", "task": "classify", "dataset": args.dataset,
                    "labels_per_class": per_class, "contender": name,
                    "minutes": round((time.perf_counter() - started) / 60, 2),
                    "balanced_accuracy": round(metrics["balanced_accuracy"], 4),
                    "macro_f1": round(metrics["macro_f1"], 4),
                    "per_class_recall": {k: round(v["recall"], 3)
                                         for k, v in metrics["per_class"].items()}}
            if method == "fixmatch":
                line["pseudo_labels"] = pseudo_label_quality(model, splits / "train")
            emit(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True)
    for name in ("anomaly", "classify"):
        task = tasks.add_parser(name)
        task.add_argument("--out", type=Path, default=Path(f"runs/bench_{name}"))
        task.add_argument("--checkpoint", type=Path, help="a pretrain checkpoint to use")
        task.add_argument("--pretrain-minutes", type=float, default=10.0,
                          help="pretrain for this long when no --checkpoint (0: skip)")
        task.add_argument("--pretrain-steps", type=int,
                          help="pretrain for this many steps instead (no throughput probe: "
                               "the same steps whatever else the machine is doing)")
        task.add_argument("--image-size", type=int, default=64)
        task.add_argument("--device", default="cpu")
        task.add_argument("--seed", type=int, default=0,
                          help="the downstream seed: a random-init backbone's weights, the "
                               "models' sampling and, for classify, which images keep labels "
                               "(a pretraining seed goes in --planned-override runtime.seed)")
        task.add_argument("--only", nargs="+", help="contenders to run")
        task.add_argument("--recipes", nargs="+", choices=("fixed", "default", "planned"),
                          default=["default", "planned"],
                          help="pretraining recipes, each a contender: the bench's fixed "
                               "one, hatchery pretrain's defaults, hatchery plan's choice")
        task.add_argument("--planned-override", type=json.loads,
                          help="an ablation of the planned recipe: JSON sections merged into "
                               "its config, e.g. '{\"loss\": {\"dense_weight\": 0}}'")
    anomaly = tasks.choices["anomaly"]
    anomaly.add_argument("--dataset", choices=("kolektorsdd", "generated"), required=True)
    anomaly.add_argument("--crop-pixels", type=float, nargs=2, default=(48.0, 128.0),
                         help="pretraining crop sides in native pixels")
    anomaly.add_argument("--input-scale", type=float, default=1.0,
                         help="the baselines' input scale (the pretrained one's: its own)")
    # the defaults a user of `hatchery finetune anomaly` gets, read from the schema
    anomaly.add_argument("--bank-size", type=int,
                         default=AnomalySettings.model_fields["bank_size"].default)
    anomaly.add_argument("--patches-per-image", type=int,
                         default=AnomalySettings.model_fields["patches_per_image"].default)
    anomaly.add_argument("--fit-normalization", action=argparse.BooleanOptionalAction,
                         help="re-estimate every contender's BatchNorm statistics on the "
                              "good parts first, or no contender's (default: a random-init "
                              "network's only, as hatchery finetune anomaly does)")
    classify = tasks.choices["classify"]
    classify.add_argument("--dataset", choices=("neu", "parts"), default="neu")
    classify.add_argument("--labels-per-class", type=int, nargs="+", default=[5, 10, 20])
    classify.add_argument("--steps", type=int,
                          default=ClassifySettings.model_fields["steps"].default,
                          help="steps of each trained classifier (default: what "
                               "hatchery finetune classify runs)")
    classify.add_argument("--classify-override", type=json.loads, default={},
                          help="JSON of classifier settings (an ablation), e.g. "
                               "'{\"thresholds\": \"flexible\"}'")
    args = parser.parse_args()
    if args.out.exists() and args.checkpoint is None:
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.task == "anomaly":
        run_anomaly(args)
    else:
        run_classify(args)


if __name__ == "__main__":
    main()
