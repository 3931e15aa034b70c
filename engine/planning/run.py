"""``hatchery run``: analyze -> plan -> pretrain -> finetune and evaluate, in one command that a
killed run resumes.

    run_end_to_end(RunRequest(data="parts/", task="anomaly", out="runs/parts",
                              masks="parts/masks", budget_minutes=20))

The run folder holds each stage's output; a stage whose output is complete is skipped when
the command runs again, and an interrupted pretraining continues from its last checkpoint:

    out/analysis.json, out/groups.csv     what the data is like; its shots of one part
    out/plan.yaml                         the recipe and its reasons
    out/data/                             the split (by group), as folders of links
                                          (detect, segment: train.json and val.json too)
    out/pretrain/                         the self-supervised run (checkpoint.pt, metrics)
    out/candidates/pretrained/            the model on the plan's backbone, and under
                                          baselines/ the same on a random-init one and on
                                          raw pixels (``engine.planning.deliver``)
    out/model/                            the best of them on the held-out parts, its
                                          metrics beside the others'
    out/report.md                         the plan's reasons, the metrics, the baselines
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from engine.analysis.report import analyze_folder, read_groups, write_groups
from engine.data.annotations import read_annotations
from engine.data.coco_writer import write_coco
from engine.errors import HatcheryInputError
from engine.planning.deliver import DONE, PRETRAINED, deliver
from engine.planning.plan import Plan, PlanDevice, Task, make_plan
from engine.planning.report_md import write_report
from engine.planning.splits import VAL_FRACTION, grouped_split
from engine.schemas.detect import DetectConfig
from engine.schemas.finetune import GOOD_CLASS, AnomalyConfig, ClassifyConfig
from engine.schemas.pretrain import PretrainConfig

DETECTION_TASKS = ("detect", "segment")
Say = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    data: str
    task: Task
    out: str
    labels: str | None = None
    masks: str | None = None
    budget_minutes: float = 20.0
    device: PlanDevice = "cpu"
    progress_bar: bool = True


def _stage(say: Say, number: int, name: str, skipped: bool) -> None:
    say(f"[{number}/5] {name}" + (" (done before: kept)" if skipped else ""))


def run_end_to_end(request: RunRequest, say: Say = print) -> dict[str, Any]:
    """Run (or resume) every stage; returns the model's report (metrics, warnings)."""
    if request.task in DETECTION_TASKS and request.labels is None:
        raise HatcheryInputError(
            f"a {request.task} model learns from drawn objects: give --labels (COCO .json, "
            "Pascal VOC or YOLO annotations of at least some of the images)")
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)

    analysis_file = out / "analysis.json"
    _stage(say, 1, "analyze", analysis_file.exists())
    if not analysis_file.exists():
        report = analyze_folder(request.data, labels=request.labels, masks=request.masks)
        say(report.text())
        write_groups(report, out / "groups.csv")
        analysis_file.write_text(json.dumps(report.as_dict(), indent=2))
    analysis = json.loads(analysis_file.read_text())
    groups = read_groups(out / "groups.csv")
    paths = list(groups)

    plan_file = out / "plan.yaml"
    _stage(say, 2, "plan", plan_file.exists())
    data = out / "data"
    if not plan_file.exists():
        plan = make_plan(analysis, request.task, request.budget_minutes, request.device,
                         data_path=str((data / "unlabeled").resolve()))
        say(plan.text())
        plan_file.write_text(yaml.safe_dump(plan.as_dict(), sort_keys=False))
    plan_tree = yaml.safe_load(plan_file.read_text())

    if not (data / DONE).exists():
        shutil.rmtree(data, ignore_errors=True)  # a split a kill left half made
        _prepare_data(request, paths, groups, data)
        (data / DONE).write_text("")

    pretrain_dir = out / "pretrain"
    _stage(say, 3, "pretrain", (pretrain_dir / DONE).exists())
    if not (pretrain_dir / DONE).exists():
        _pretrain(PretrainConfig.model_validate(plan_tree["pretrain"]), pretrain_dir,
                  request.progress_bar)
        (pretrain_dir / DONE).write_text("")

    finetuned = out / "candidates" / PRETRAINED
    _stage(say, 4, "finetune", (finetuned / DONE).exists())
    if not (finetuned / DONE).exists():
        from engine.downstream.finetune import finetune

        config = _finetune_config(request, plan_tree["finetune"],
                                  pretrain_dir / "checkpoint.pt", data)
        result = finetune(config, finetuned, progress=_stage_printer(say), baselines=True)
        (finetuned / "report.json").write_text(json.dumps(result, indent=2, default=str))
        (finetuned / DONE).write_text("")

    _stage(say, 5, "evaluate, choose and report", False)
    model_dir = out / "model"
    result = deliver(request.task, finetuned, model_dir)
    write_report(out / "report.md", request, analysis, plan_tree, result,
                 _pretrain_summary(pretrain_dir))
    for warning in result.get("warnings", []):
        say(f"warning: {warning}")
    say(f"model: {model_dir} ({result['delivered']})  report: {out / 'report.md'}")
    return result


def _stage_printer(say: Say) -> Callable[[str, int, int], None]:
    """A ``StageProgress`` that says how far each phase got, once per tenth of it."""
    said: dict[str, int] = {}

    def progress(phase: str, done: int, total: int) -> None:
        tenth = 10 * done // max(1, total)
        if said.get(phase) != tenth:
            said[phase] = tenth
            say(f"    {phase}: {done}/{total}")

    return progress


def _pretrain(config: PretrainConfig, out: Path, progress_bar: bool) -> None:
    from engine.train.pretrain import PretrainRun
    from engine.train.progress import ProgressBar

    resume = (out / "checkpoint.pt").exists()
    callbacks = [ProgressBar()] if progress_bar else []
    result = PretrainRun(config, out, callbacks=callbacks, resume=resume).run()
    if result.status != "completed":
        raise SystemExit(f"hatchery: pretraining stopped ({result.status}) at step "
                         f"{result.step}; run the same command again to continue")


def _pretrain_summary(out: Path) -> dict[str, Any]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
             if line.strip()]
    steps = [line for line in lines if "loss" in line]
    last = steps[-1] if steps else {}
    return {"steps": last.get("step"), "images_per_second": last.get("images_per_second"),
            "loss": last.get("loss")}


# ------------------------------------------------------------------------------ the split
def _link(source: Path, folder: Path) -> Path:
    """A link to ``source`` in ``folder`` under its own name (its parent's name in front
    when two sources share a name); the link."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    if target.exists() or target.is_symlink():
        target = folder / f"{source.parent.name}__{source.name}"
    target.symlink_to(source.resolve())
    return target


def _conditions(request: RunRequest, paths: list[str], masks_out: Path) -> dict[str, str]:
    """Each image's condition, good or defect, from annotations (no object: good), masks (a
    mask with a defect pixel: defect) or class folders (``good/``: good); masks of defects
    from annotations are written as PNGs into ``masks_out``."""
    root = Path(request.data)
    if request.labels is not None:
        found = read_annotations(request.labels)
        by_path = {image.path.resolve(): image for image in found.images}
        conditions = {}
        masks_out.mkdir(parents=True, exist_ok=True)
        for path in paths:
            image = by_path.get((root / path).resolve())
            defective = image is not None and len(image.labels) > 0
            conditions[path] = "defect" if defective else "good"
            if defective:
                mask = image.masks().any(axis=0)
                Image.fromarray((mask * 255).astype(np.uint8)).save(
                    masks_out / f"{Path(path).stem}.png")
        return conditions
    if request.masks is not None:
        masks = Path(request.masks)
        conditions = {}
        for path in paths:
            mask = masks / f"{Path(path).stem}.png"
            defective = mask.is_file() and bool(np.asarray(Image.open(mask)).any())
            conditions[path] = "defect" if defective else "good"
        return conditions
    tops = {path: path.split("/")[0] for path in paths if "/" in path}
    if len(tops) < len(paths) or GOOD_CLASS not in tops.values():
        raise HatcheryInputError(
            f"{request.data}: an anomaly model learns from good parts: put them in a "
            f"'{GOOD_CLASS}/' folder (defective ones in any other), or give --labels or --masks")
    return {path: "good" if top == GOOD_CLASS else "defect" for path, top in tops.items()}


def _prepare_data(request: RunRequest, paths: list[str], groups: dict[str, str],
                  data: Path) -> None:
    """Links to every image in data/unlabeled and the task's split, grouped by part."""
    root = Path(request.data)
    for path in paths:
        _link(root / path, data / "unlabeled")
    if request.task in DETECTION_TASKS:
        _prepare_detection_data(request, paths, groups, data)
        return
    if request.task == "classify":
        classes = {path: path.split("/")[0] for path in paths if "/" in path}
        if len(classes) < len(paths) or len(set(classes.values())) < 2:
            raise HatcheryInputError(
                f"{request.data}: a classifier learns from class folders: put each class's "
                "images in a folder of its own (two classes at least)")
        train, val = grouped_split(paths, groups, classes, VAL_FRACTION)
        for split, members in (("train", train), ("val", val)):
            for path in members:
                _link(root / path, data / split / classes[path])
        return
    conditions = _conditions(request, paths, data / "masks")
    good = [path for path in paths if conditions[path] == "good"]
    if len(good) < 2:
        raise HatcheryInputError(f"{request.data}: an anomaly model needs good parts to learn "
                                 f"from and to measure on; found {len(good)}")
    train, val_good = grouped_split(good, groups, {}, VAL_FRACTION)
    for path in train:
        _link(root / path, data / "good")
    for path in val_good:
        _link(root / path, data / "val_good")
    for path in paths:
        if conditions[path] == "defect":
            _link(root / path, data / "val_defect")


def _prepare_detection_data(request: RunRequest, paths: list[str], groups: dict[str, str],
                            data: Path) -> None:
    """The annotated images split by group (stratified by each image's most frequent
    class) into ``train.json`` and ``val.json`` (COCO, beside links to their images), and
    the images nobody annotated in ``unlabeled_only/`` (what the teacher pseudo-labels)."""
    found = read_annotations(request.labels)
    if request.task == "segment":
        found.require_outlines(request.labels)
    root = Path(request.data).resolve()
    by_path = {}
    for image in found.images:
        try:
            by_path[image.path.resolve().relative_to(root).as_posix()] = image
        except ValueError:
            raise HatcheryInputError(f"{request.labels}: {image.path} is annotated but lies "
                                     f"outside --data {request.data}") from None
    classes = {path: found.class_names[np.bincount(image.labels).argmax()]
               if len(image.labels) else "" for path, image in by_path.items()}
    train, val = grouped_split(sorted(by_path), groups, classes, VAL_FRACTION)
    if not train or not val:
        raise HatcheryInputError(f"{request.labels}: {len(by_path)} annotated images cannot "
                                 "be split into training and validation parts; annotate more")
    for split, members in (("train", train), ("val", val)):
        links = [_link(root / path, data / split) for path in members]
        write_coco([by_path[path] for path in members], found.class_names,
                   data / f"{split}.json", [f"{split}/{link.name}" for link in links])
    for path in paths:
        if path not in by_path:
            _link(root / path, data / "unlabeled_only")


def _finetune_config(request: RunRequest, settings: dict[str, Any], checkpoint: Path,
                     data: Path) -> AnomalyConfig | ClassifyConfig | DetectConfig:
    backbone = {"checkpoint": str(checkpoint)}
    if request.task in DETECTION_TASKS:
        unlabeled = data / "unlabeled_only"
        return DetectConfig.model_validate({
            **settings, "task": request.task, "backbone": backbone,
            "train": str(data / "train.json"), "val": str(data / "val.json"),
            "unlabeled": str(unlabeled) if unlabeled.is_dir() else None})
    if request.task == "classify":
        return ClassifyConfig.model_validate({
            **settings, "backbone": backbone, "labeled": str(data / "train"),
            "unlabeled": str(data / "unlabeled"), "val": str(data / "val")})
    masks = data / "masks" if (data / "masks").is_dir() else request.masks
    has_defects = (data / "val_defect").is_dir()
    return AnomalyConfig.model_validate({
        **settings, "backbone": backbone, "good": str(data / "good"),
        "val_good": str(data / "val_good") if has_defects else None,
        "val_defect": str(data / "val_defect") if has_defects else None,
        "masks": str(masks) if masks is not None and has_defects else None})


def plan_for(request: RunRequest, say: Say = print) -> Plan:
    """``hatchery plan``: analyze and plan, nothing else."""
    report = analyze_folder(request.data, labels=request.labels, masks=request.masks)
    say(report.text())
    return make_plan(report.as_dict(), request.task, request.budget_minutes, request.device,
                     data_path=str(Path(request.data).resolve()))


