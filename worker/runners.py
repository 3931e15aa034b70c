"""What each job kind does inside the job's process: engine code fed by the local cache.

A runner gets a ``JobContext`` (the job row's values, the database, the object store, the
dataset cache, the channel) and returns an ``Outcome``: the status the job ends in, its
result and its artifacts (object-store keys). A config names data by reference
(``engine.schemas.kinds``): ``JobContext.resolved_config`` turns each into a local folder or
file, within the job's own organization, before the engine sees it.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.kit.db import session_scope
from api.kit.storage import ObjectStore
from api.models.datasets import Blob, VersionItem
from api.models.jobs import Job
from engine.errors import HatcheryInputError
from engine.schemas.finetune import part_condition
from engine.schemas.kinds import KINDS, VERSION_SCHEME, parse_reference, references_in
from worker.cache import COCO_FILE, DatasetCache, Materialized, VersionNotFound, view_path
from worker.channel import JobChannel, JobStopped
from worker.devices import describe_devices
from worker.held_out import HeldOut, held_out_split


@dataclass
class JobContext:
    job_id: uuid.UUID
    organization_id: uuid.UUID
    kind: str
    config: dict[str, Any]
    artifacts: dict[str, Any]
    gpus: int
    factory: sessionmaker[Session]
    store: ObjectStore
    cache: DatasetCache
    channel: JobChannel
    work_dir: Path
    # local path -> what the tenant knows it as ("dataset version <id>"), for messages
    local_names: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        return f"{self.organization_id}/jobs/{self.job_id}/{name}"

    def resolved_config(self, layouts: dict[str, str] | None = None) -> dict[str, Any]:
        """The config with every reference of the job's kind (``engine.schemas.kinds``)
        replaced by a local path: a dataset version by a folder of its images (one
        sub-folder per class where the field wants labels), a job by what the field reads
        of it (its checkpoint file, its model directory).
        Only the job's own organization's resources are found; a field that should hold a
        reference and holds anything else fails the job. ``layouts`` names another cache
        layout for a field (``{"train": "classes-train"}``)."""
        config = copy.deepcopy(self.config)
        for reference, id_, value in references_in(KINDS[self.kind], config):
            if value is None:
                continue
            if id_ is None:
                raise HatcheryInputError(f"config.{reference.field}: must name a "
                                         f"{reference.noun} as {reference.scheme}://<id>")
            node = config
            for key in reference.path[:-1]:
                node = node[key]
            if reference.scheme == VERSION_SCHEME:
                layout = (layouts or {}).get(reference.field) or (
                    "classes" if reference.labeled else "files")
                node[reference.path[-1]] = self.dataset_folder(id_, layout)
            elif reference.artifact == "model":
                node[reference.path[-1]] = str(self.model_of(id_))
            else:
                node[reference.path[-1]] = str(self.checkpoint_of(id_))
        return config

    def dataset_folder(self, version_id: uuid.UUID, layout: str) -> str:
        """A dataset version of this job's organization as a local image folder."""
        return str(self.dataset_view(version_id, layout).path)

    def dataset_view(self, version_id: uuid.UUID, layout: str) -> Materialized:
        """``dataset_folder`` with its image count."""
        with session_scope(self.factory) as session:
            try:
                materialized = self.cache.materialize(session, self.organization_id,
                                                      version_id, layout)
            except VersionNotFound as error:
                raise HatcheryInputError(str(error)) from None
        self.local_names[str(materialized.path)] = f"dataset version {version_id}"
        self.channel.event("log", {"message": f"dataset version {version_id} ({layout}): "
                                   f"{materialized.images} images, {materialized.downloaded} "
                                   f"downloaded ({materialized.downloaded_bytes} bytes)"})
        return materialized

    def checkpoint_of(self, job_id: uuid.UUID) -> Path:
        """The checkpoint of a job of this organization, downloaded into the work folder."""
        target = self.work_dir / "input" / f"{job_id}.pt"
        download(self.store, self._artifact_key(job_id, "checkpoint"), target)
        self.local_names[str(target)] = f"the checkpoint of job {job_id}"
        return target

    def model_of(self, job_id: uuid.UUID) -> Path:
        """The model directory a finetune job of this organization left, unpacked into the
        work folder."""
        from engine.downstream.model_dir import unpack_model

        archive = self.work_dir / "input" / f"{job_id}.model.tar"
        download(self.store, self._artifact_key(job_id, "model"), archive)
        directory = unpack_model(archive, self.work_dir / "input" / f"{job_id}-model")
        self.local_names[str(directory)] = f"the model of job {job_id}"
        return directory

    def _artifact_key(self, job_id: uuid.UUID, artifact: str) -> str:
        with session_scope(self.factory) as session:
            artifacts = session.scalar(select(Job.artifacts).where(
                Job.id == job_id, Job.organization_id == self.organization_id))
        if artifacts is None:
            raise HatcheryInputError(f"job {job_id} not found")
        if not artifacts.get(artifact):
            raise HatcheryInputError(f"job {job_id} has no {artifact}")
        return artifacts[artifact]["key"]

    def redact(self, text: str) -> str:
        """``text`` with the worker's local paths replaced by what the tenant knows: the
        dataset version or job they hold, the job's work folder, the worker's cache."""
        names = {**self.local_names, str(self.work_dir): "<job folder>",
                 str(self.cache.root): "<worker cache>"}
        for path in sorted(names, key=len, reverse=True):
            for form in {path, str(Path(path).resolve())}:
                text = text.replace(form, names[path])
        return text

    def set_artifact(self, name: str, value: dict[str, Any]) -> bool:
        """Record an artifact on the job row at once (a resumed attempt finds it) — only
        while this process's worker holds the job; False (nothing written) otherwise."""
        return self._write_artifacts({**self.artifacts, name: value})

    def drop_artifact(self, name: str) -> None:
        """Delete an artifact's object and its record (while the job is ours)."""
        value = self.artifacts.get(name)
        if value is not None and self._write_artifacts(
                {key: item for key, item in self.artifacts.items() if key != name}):
            self.store.delete(value["key"])

    def _write_artifacts(self, artifacts: dict[str, Any]) -> bool:
        """The job's artifacts and their bytes (they count against the organization's
        storage), written only while this process's worker holds the job."""
        with session_scope(self.factory) as session:
            written = session.execute(
                update(Job).where(Job.id == self.job_id, Job.lease_owner == self.channel.owner)
                .values(artifacts=artifacts, artifact_bytes=artifact_bytes(artifacts))
            ).rowcount == 1
        if written:
            self.artifacts = artifacts
        return written


def artifact_bytes(artifacts: dict[str, Any]) -> int:
    return sum(int(value.get("bytes", 0)) for value in artifacts.values()
               if isinstance(value, dict))


@dataclass
class Outcome:
    status: str  # succeeded | cancelled | interrupted (back to the queue) | failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    # interrupted because the worker shuts down (SIGTERM): the attempt does not count
    given_back: bool = False


def download(store: ObjectStore, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with store.open(key) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


def upload(store: ObjectStore, path: Path, key: str, content_type: str) -> dict[str, Any]:
    size = path.stat().st_size
    with path.open("rb") as stream:
        store.put_file(key, stream, size, content_type)
    return {"key": key, "bytes": size}


def keep_files(context: JobContext, folder: Path, content_types: dict[str, str]) -> None:
    """Upload each file of ``folder`` named in ``content_types`` (those that exist) as the
    job's artifact of its stem (``plan.yaml`` -> ``plan``)."""
    for name, content_type in content_types.items():
        if (folder / name).exists():
            context.set_artifact(name.split(".")[0], upload(
                context.store, folder / name, context.key(name), content_type))


# --------------------------------------------------------------------------------- pretrain
def run_pretrain(context: JobContext) -> Outcome:
    """Self-supervised pretraining; resumes from the checkpoint an earlier attempt uploaded."""
    from engine.schemas.pretrain import PretrainConfig
    from engine.train.pretrain import PretrainRun, TrainingDiverged

    saved = context.artifacts.get("checkpoint")
    if saved and saved.get("final"):  # trained already; the worker stopped before the end
        context.channel.event("log", {"message": "the run completed in an earlier attempt"})
        return Outcome("succeeded", {"steps": saved["step"], "total_steps": saved["step"],
                                     "metrics": {}})
    config = context.resolved_config()
    out = context.work_dir / "pretrain"
    shutil.rmtree(out, ignore_errors=True)
    if saved:
        download(context.store, saved["key"], out / "checkpoint.pt")
        context.channel.forget_progress_after(saved["step"])
        context.channel.event("log", {"message": f"resuming from step {saved['step']}"})

    def upload_checkpoint(path: Path, step: int, final: bool) -> None:
        """Each checkpoint under its own key, recorded only while the job is ours; then the
        previous one goes. A process that lost the job can never replace the checkpoint
        the job's new holder resumed from."""
        previous = context.artifacts.get("checkpoint")
        uploaded = upload(context.store, path, context.key(f"checkpoint-{step:08d}.pt"),
                          "application/octet-stream")
        if not context.set_artifact("checkpoint", {**uploaded, "step": step, "final": final}):
            context.store.delete(uploaded["key"])
        elif previous and previous["key"] != uploaded["key"]:
            context.store.delete(previous["key"])

    run = PretrainRun(PretrainConfig.model_validate(config), out,
                      callbacks=[context.channel.report],
                      should_cancel=context.channel.should_stop, resume=bool(saved),
                      checkpoint_callbacks=[upload_checkpoint])
    try:
        result = run.run()
    except TrainingDiverged:
        context.drop_artifact("checkpoint")  # nothing of a diverged run is kept
        raise
    keep_files(context, out, {"config.yaml": "application/yaml",
                              "metrics.jsonl": "application/x-ndjson",
                              "data.json": "application/json"})
    summary = {"steps": result.step, "total_steps": result.total_steps,
               "metrics": {key: value for key, value in result.last_metrics.items()
                           if key in ("loss", "knn")}}
    if result.status == "completed":
        return Outcome("succeeded", summary)
    if result.status == "cancelled" and context.channel.cancelled:
        return Outcome("cancelled", summary)
    if result.status == "interrupted":  # SIGTERM: the worker shuts down
        return Outcome("interrupted", summary, "worker shutdown", given_back=True)
    return Outcome("interrupted", summary, context.channel.stop_reason or "stopped")


# ------------------------------------------------------------------------------------- plan
def run_plan(context: JobContext) -> Outcome:
    """Analyze a dataset version and plan the recipe (``engine.planning.plan``); the plan's
    pretrain config reads the same version (``data.path`` stays its reference), so a
    pipeline runs it as it is. Annotations, when the version has some, give the defect sizes.
    Artifacts: analysis.json, groups.csv, plan.yaml."""
    import yaml

    from engine.analysis.report import analyze_folder, write_groups
    from engine.planning.plan import make_plan
    from engine.schemas.planning import PlanJobConfig

    config = PlanJobConfig.model_validate(context.config)
    version = parse_reference(config.data, VERSION_SCHEME)
    images = Path(context.dataset_folder(version, "files"))
    annotations = Path(context.dataset_folder(version, "coco")) / COCO_FILE
    labeled = bool(json.loads(annotations.read_text()).get("annotations"))
    context.channel.event("log", {"message": "analyzing the images"})
    report = analyze_folder(images, labels=annotations if labeled else None)
    analysis = report.as_dict()
    analysis["data"] = config.data
    plan = make_plan(analysis, config.task, config.budget_minutes, config.device,
                     data_path=config.data)
    out = context.work_dir / "plan"
    out.mkdir(parents=True, exist_ok=True)
    (out / "analysis.json").write_text(json.dumps(analysis, indent=2))
    write_groups(report, out / "groups.csv")
    (out / "plan.yaml").write_text(yaml.safe_dump(plan.as_dict(), sort_keys=False))
    keep_files(context, out, {"analysis.json": "application/json", "groups.csv": "text/csv",
                              "plan.yaml": "application/yaml"})
    summary = {key: analysis[key] for key in ("images", "duplicates", "groups", "orientation")}
    return Outcome("succeeded", {"plan": plan.as_dict(), "analysis": summary})


# ---------------------------------------------------------------------------------- suggest
def run_suggest(context: JobContext) -> Outcome:
    """Rank a dataset version's unlabeled images (``engine.labeling.suggest``): its items
    with a class (or only a good/defect mark) are the labels."""
    from engine.labeling.suggest import suggest_for_folder
    from engine.schemas.labeling import SuggestJobConfig

    config = SuggestJobConfig.model_validate(context.resolved_config())
    version = parse_reference(context.config["data"], VERSION_SCHEME)
    with session_scope(context.factory) as session:
        rows = session.execute(
            select(VersionItem.path, VersionItem.class_name, VersionItem.is_defect,
                   Blob.format).join(Blob, Blob.id == VersionItem.blob_id)
            .where(VersionItem.version_id == version,
                   VersionItem.organization_id == context.organization_id)).all()
    labels = {}
    for row in rows:
        condition = part_condition(None, row.is_defect)
        if row.class_name or condition:
            labels[view_path(row.path, row.format).as_posix()] = row.class_name or condition
    result = suggest_for_folder(config.checkpoint, config.data, labels, config.k,
                                config.device)
    return Outcome("succeeded", result)


# --------------------------------------------------------------------------------- evaluate
def run_evaluate(context: JobContext) -> Outcome:
    """Weighted kNN of a pretrained backbone on labeled train/test versions (by class)."""
    from engine.eval.embed import evaluate_knn
    from engine.schemas.eval import KnnEvalConfig

    if context.config.get("test") is not None:
        config = context.resolved_config()
    else:  # one version: its images marked test against the rest
        version = parse_reference(context.config["train"], VERSION_SCHEME)
        config = context.resolved_config(layouts={"train": "classes-train"})
        config["test"] = context.dataset_folder(version, "classes-test")
    report = evaluate_knn(KnnEvalConfig.model_validate(config))
    return Outcome("succeeded", {"metrics": {"knn": report}})


# --------------------------------------------------------------------------------- finetune
def _finetune_data(context: JobContext, config: dict[str, Any]) -> dict[str, Any]:
    """The engine config of a finetune job (``AnomalyConfig``, ``ClassifyConfig`` or
    ``DetectConfig`` as a dict): its task's settings, the backbone resolved, and the dataset
    versions as folders — for anomaly the good parts to learn from and the good and
    defective parts to measure on, for classify the class folders and the unlabeled images,
    for detect / segment COCO files of their boxes and outlines. Without a test version the
    train version's images marked test are held out; when none are (classify, anomaly),
    whole parts are (worker/held_out.py)."""
    task = config["task"]
    train = parse_reference(config["train"], VERSION_SCHEME)
    test = parse_reference(config["test"], VERSION_SCHEME) if config.get("test") else None
    fit_split, test_split = ("", "") if test is not None else ("-train", "-test")
    test = test or train
    detecting = task in ("detect", "segment")
    fit_layout, test_layout = {"anomaly": ("good", "defect"), "classify": ("classes", "classes")
                               }.get(task, ("coco", "coco"))
    resolved = context.resolved_config(layouts={"train": fit_layout + fit_split,
                                                 "test": test_layout})
    engine_config = {**config["detect" if detecting else task], "backbone": resolved["backbone"]}
    if detecting:
        val = resolved["test"] if config.get("test") else \
            context.dataset_folder(train, "coco-test")
        engine_config.update(task=task, annotation_format="coco", unlabeled=resolved.get(
            "unlabeled"), train=str(Path(resolved["train"]) / COCO_FILE),
            val=str(Path(val) / COCO_FILE))
        return engine_config
    if not config.get("test") and _holds_out_parts(context, train, task):
        held = _held_out(context, train, task)
        if task == "classify":
            engine_config.update(labeled=str(held.train), val=str(held.val))
        else:
            engine_config.update(good=str(held.train), val_good=str(held.val_good),
                                 val_defect=str(held.val_defect))
    elif task == "anomaly":
        val_good = context.dataset_view(test, f"good{test_split}")
        val_defect = context.dataset_view(test, f"defect{test_split}")
        engine_config["good"] = resolved["train"]
        if val_good.images and val_defect.images:
            engine_config.update(val_good=str(val_good.path), val_defect=str(val_defect.path))
        else:
            context.channel.event("log", {"message": "no labeled test images: the threshold "
                                          "is set on held-out good parts, and nothing is "
                                          "measured"})
    else:
        engine_config["labeled"] = resolved["train"]
        engine_config["val"] = resolved["test"] if config.get("test") else \
            context.dataset_folder(train, "classes-test")
    if task == "anomaly":
        return engine_config
    if config[task]["method"] == "fixmatch":
        engine_config["unlabeled"] = resolved.get("unlabeled") or \
            context.dataset_folder(train, "files")
    return engine_config


def _holds_out_parts(context: JobContext, version: uuid.UUID, task: str) -> bool:
    """Whether the job holds out whole parts of ``version`` itself: none of its labeled
    images is marked test, and (anomaly) it has defective parts to measure on — without
    them every good part goes to learning and the threshold is set on good parts alone."""
    layouts = ("good-test", "defect-test") if task == "anomaly" else ("classes-test",)
    if any(context.dataset_view(version, layout).images for layout in layouts):
        return False
    return task != "anomaly" or context.dataset_view(version, "defect").images > 0


def _held_out(context: JobContext, version: uuid.UUID, task: str) -> HeldOut:
    """A validation split of ``version`` by whole parts (worker/held_out.py), its groups and
    split kept as the job's artifacts, what it did in the job's log."""
    held = held_out_split(lambda layout: context.dataset_view(version, layout).path, task,
                          context.work_dir / "split")
    keep_files(context, held.train.parent, {"groups.csv": "text/csv", "split.csv": "text/csv"})
    context.channel.event("log", {"message": (
        f"no images of dataset version {version} are marked test: {held.held} of "
        f"{held.labeled} labeled images held out for validation, by whole parts "
        f"({held.groups} groups of shots among the version's images; split.csv says which)")})
    return held


def run_finetune(context: JobContext) -> Outcome:
    """A defect model on a backbone (``engine.downstream``): trained, measured on the test
    images beside its baselines, kept as a packed model directory with its heat maps."""
    from engine.downstream.finetune import finetune
    from engine.downstream.model_dir import pack_model
    from engine.schemas.detect import DetectConfig
    from engine.schemas.finetune import AnomalyConfig, ClassifyConfig

    task = context.config["task"]
    engine_config = _finetune_data(context, context.config)
    out = context.work_dir / "model"
    shutil.rmtree(out, ignore_errors=True)
    schema = {"anomaly": AnomalyConfig, "classify": ClassifyConfig}.get(task, DetectConfig)
    try:
        report = finetune(schema.model_validate(engine_config), out, context.channel.phase,
                          baselines=context.config["baselines"])
    except JobStopped:
        return _stopped(context)
    archive = pack_model(out, context.work_dir / "model.tar")
    context.set_artifact("model", upload(context.store, archive, context.key("model.tar"),
                                         "application/x-tar"))
    _upload_heatmaps(context, out / "heatmaps")
    _upload_evaluation(context, out)
    report.pop("out", None)
    return Outcome("succeeded", report)


def _upload_evaluation(context: JobContext, out: Path) -> None:
    """The model's ``evaluation.json`` (``engine.downstream.evaluation``), when it wrote one,
    as the ``evaluation`` artifact: each picture it names is uploaded as an object of its
    own and named in the stored document by its key (the API presigns it for the browser);
    the artifact's bytes count the pictures too."""
    from engine.downstream.evaluation import EVALUATION_FILE

    source = out / EVALUATION_FILE
    if not source.is_file():
        return
    document = json.loads(source.read_text())
    pictures_bytes = 0
    for image in document.get("images", []):
        picture = image.get("picture")
        if not picture or not (out / picture).is_file():
            image["picture"] = None
            continue
        uploaded = upload(context.store, out / picture, context.key(f"evaluation/{picture}"),
                          "image/png")
        image["picture"] = uploaded["key"]
        pictures_bytes += uploaded["bytes"]
    stored = context.work_dir / EVALUATION_FILE
    stored.write_text(json.dumps(document))
    uploaded = upload(context.store, stored, context.key(EVALUATION_FILE), "application/json")
    context.set_artifact("evaluation", {**uploaded, "bytes": uploaded["bytes"] + pictures_bytes})


def _upload_heatmaps(context: JobContext, folder: Path) -> None:
    """The heat-map overlays in ``folder``, when there are any, as the ``heatmaps`` zip."""
    if folder.is_dir() and any(folder.iterdir()):
        zipped = Path(shutil.make_archive(str(context.work_dir / "heatmaps"), "zip", folder))
        context.set_artifact("heatmaps", upload(context.store, zipped,
                                                context.key("heatmaps.zip"), "application/zip"))


def _stopped(context: JobContext) -> Outcome:
    """The outcome of work that stopped on request: cancelled, or back to the queue."""
    if context.channel.cancelled:
        return Outcome("cancelled")
    return Outcome("interrupted", error=context.channel.stop_reason or "stopped")


# ---------------------------------------------------------------------------------- predict
def run_predict(context: JobContext) -> Outcome:
    """A finetune job's model on every image of a dataset version: ``predictions`` (JSON
    lines, each image named by its path in the version) and, for anomaly models when asked,
    heat-map overlays as a zip (each line names its overlay in it); the result counts the
    verdicts, classes or images with objects."""
    from engine.downstream.predict import Predictor, image_paths

    config = context.resolved_config()
    folder = Path(config["data"])
    heatmaps = context.work_dir / "heatmaps"
    predictor = Predictor(config["model"], config["device"])
    paths = image_paths([str(folder)])
    lines, counts = [], {}
    try:
        for done, path in enumerate(paths, 1):
            result = predictor(path, heatmaps / f"{done:06d}.png" if config["heatmaps"]
                               else None)
            result["image"] = path.relative_to(folder).as_posix()
            if "heatmap" in result:  # named in the zip as the image, by its path
                result["heatmap"] = Path(result["heatmap"]).name
            label = _prediction_label(result)
            counts[label] = counts.get(label, 0) + 1
            lines.append(json.dumps(result))
            context.channel.phase("predict", done, len(paths))
    except JobStopped:
        return _stopped(context)
    target = context.work_dir / "predictions.jsonl"
    target.write_text("".join(f"{line}\n" for line in lines))
    context.set_artifact("predictions", upload(context.store, target,
                                               context.key("predictions.jsonl"),
                                               "application/x-ndjson"))
    _upload_heatmaps(context, heatmaps)
    return Outcome("succeeded", {"images": len(lines), "counts": counts})


def _prediction_label(result: dict[str, Any]) -> str:
    """What a prediction is counted as: its verdict, its class, or whether it found objects."""
    if "error" in result:
        return "unreadable"
    if "boxes" in result:
        return "objects found" if result["boxes"] else "no object"
    return result.get("verdict") or result["class"]


# ----------------------------------------------------------------------------------- export
def run_export(context: JobContext) -> Outcome:
    """A finetune job's model as ONNX or TorchScript; the result holds the parity with the
    model itself (the largest absolute difference of their outputs)."""
    from engine.downstream.export import export_model

    config = context.resolved_config()
    suffix = "onnx" if config["format"] == "onnx" else "torchscript.pt"
    target = context.work_dir / f"model.{suffix}"
    report = export_model(config["model"], config["format"], target)
    context.set_artifact("export", upload(context.store, target, context.key(target.name),
                                          "application/octet-stream"))
    return Outcome("succeeded", {key: report[key] for key in
                                 ("task", "format", "outputs", "sample", "max_abs_difference",
                                  "objects_compared") if key in report})


# ------------------------------------------------------------------------------------ probe
def run_probe(context: JobContext) -> Outcome:
    """Checks a worker end to end: reports where it ran and on what, holds ``seconds``."""
    seconds = float(context.config.get("seconds", 0.0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if context.channel.should_stop():
            return Outcome("cancelled" if context.channel.cancelled else "interrupted")
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    return Outcome("succeeded", {"host": socket.gethostname(), "pid": os.getpid(),
                                 "python": platform.python_version(),
                                 "devices": describe_devices()})


RUNNERS: dict[str, Callable[[JobContext], Outcome]] = {
    "plan": run_plan,
    "suggest": run_suggest,
    "pretrain": run_pretrain,
    "evaluate": run_evaluate,
    "finetune": run_finetune,
    "predict": run_predict,
    "export": run_export,
    "probe": run_probe,
}
