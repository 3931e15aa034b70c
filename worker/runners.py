"""What each job kind does inside the job's process: engine code fed by the local cache.

A runner gets a ``JobContext`` (the job row's values, the database, the object store, the
dataset cache, the channel) and returns an ``Outcome``: the status the job ends in, its
result and its artifacts (object-store keys). Configs carry references that the API wrote:
``dataset-version://<id>`` becomes a local folder, ``job://<id>`` that job's checkpoint.
"""

from __future__ import annotations

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

from api.db import session_scope
from api.jobs.models import Job
from api.storage import ObjectStore
from worker.cache import DatasetCache
from worker.channel import JobChannel
from worker.devices import describe_devices

VERSION_SCHEME, JOB_SCHEME = "dataset-version://", "job://"


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

    def key(self, name: str) -> str:
        return f"{self.organization_id}/jobs/{self.job_id}/{name}"

    def dataset_folder(self, reference: str, layout: str) -> str:
        """``dataset-version://<id>`` -> a local image folder of that version."""
        if not reference.startswith(VERSION_SCHEME):
            raise ValueError(f"expected a {VERSION_SCHEME}<id> reference, got {reference!r}")
        version_id = uuid.UUID(reference.removeprefix(VERSION_SCHEME))
        with session_scope(self.factory) as session:
            materialized = self.cache.materialize(session, version_id, layout)
        self.channel.event("log", {"message": f"dataset version {version_id}: "
                                   f"{materialized.images} images, {materialized.downloaded} "
                                   f"downloaded ({materialized.downloaded_bytes} bytes)"})
        return str(materialized.path)

    def checkpoint_of(self, reference: str, target: Path) -> Path:
        """``job://<id>`` -> that job's checkpoint, downloaded to ``target``."""
        if not reference.startswith(JOB_SCHEME):
            raise ValueError(f"expected a {JOB_SCHEME}<id> reference, got {reference!r}")
        job_id = uuid.UUID(reference.removeprefix(JOB_SCHEME))
        with session_scope(self.factory) as session:
            artifacts = session.scalar(select(Job.artifacts).where(
                Job.id == job_id, Job.organization_id == self.organization_id))
        checkpoint = (artifacts or {}).get("checkpoint")
        if not checkpoint:
            raise ValueError(f"job {job_id} has no checkpoint")
        download(self.store, checkpoint["key"], target)
        return target

    def set_artifact(self, name: str, value: dict[str, Any]) -> bool:
        """Record an artifact on the job row at once (a resumed attempt finds it) — only
        while this process's worker holds the job; False (nothing written) otherwise."""
        artifacts = {**self.artifacts, name: value}
        with session_scope(self.factory) as session:
            written = session.execute(
                update(Job).where(Job.id == self.job_id, Job.lease_owner == self.channel.owner)
                .values(artifacts=artifacts)).rowcount == 1
        if written:
            self.artifacts = artifacts
        return written


@dataclass
class Outcome:
    status: str  # succeeded | cancelled | interrupted (back to the queue) | failed
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def download(store: ObjectStore, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with store.open(key) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


def upload(store: ObjectStore, path: Path, key: str, content_type: str) -> dict[str, Any]:
    size = path.stat().st_size
    with path.open("rb") as stream:
        store.put_file(key, stream, size, content_type)
    return {"key": key, "bytes": size}


# --------------------------------------------------------------------------------- pretrain
def run_pretrain(context: JobContext) -> Outcome:
    """Self-supervised pretraining; resumes from the checkpoint an earlier attempt uploaded."""
    from engine.schemas.pretrain import PretrainConfig
    from engine.train.pretrain import PretrainRun

    config = dict(context.config)
    config["data"] = {**config["data"],
                      "path": context.dataset_folder(config["data"]["path"], "files")}
    out = context.work_dir / "pretrain"
    shutil.rmtree(out, ignore_errors=True)
    saved = context.artifacts.get("checkpoint")
    if saved:
        download(context.store, saved["key"], out / "checkpoint.pt")
        context.channel.forget_progress_after(saved["step"])
        context.channel.event("log", {"message": f"resuming from step {saved['step']}"})

    def upload_checkpoint(path: Path, step: int) -> None:
        """Each checkpoint under its own key, recorded only while the job is ours; then the
        previous one goes. A process that lost the job can never replace the checkpoint
        the job's new holder resumed from."""
        previous = context.artifacts.get("checkpoint")
        uploaded = upload(context.store, path, context.key(f"checkpoint-{step:08d}.pt"),
                          "application/octet-stream")
        if not context.set_artifact("checkpoint", {**uploaded, "step": step}):
            context.store.delete(uploaded["key"])
        elif previous and previous["key"] != uploaded["key"]:
            context.store.delete(previous["key"])

    run = PretrainRun(PretrainConfig.model_validate(config), out,
                      callbacks=[context.channel.report],
                      should_cancel=context.channel.should_stop, resume=bool(saved),
                      checkpoint_callbacks=[upload_checkpoint])
    result = run.run()
    for name, content_type in (("config.yaml", "application/yaml"),
                               ("metrics.jsonl", "application/x-ndjson"),
                               ("data.json", "application/json")):
        if (out / name).exists():
            context.set_artifact(name.split(".")[0], upload(
                context.store, out / name, context.key(name), content_type))
    summary = {"steps": result.step, "total_steps": result.total_steps,
               "metrics": {key: value for key, value in result.last_metrics.items()
                           if key in ("loss", "knn")}}
    if result.status == "completed":
        return Outcome("succeeded", summary)
    if result.status == "cancelled" and context.channel.cancelled:
        return Outcome("cancelled", summary)
    return Outcome("interrupted", summary, context.channel.stop_reason or "worker shutdown")


# --------------------------------------------------------------------------------- evaluate
def run_evaluate(context: JobContext) -> Outcome:
    """Weighted kNN of a pretrained backbone on labeled train/test versions (by class)."""
    from engine.eval.embed import evaluate_knn

    config = context.config
    checkpoint = context.checkpoint_of(config["checkpoint"],
                                       context.work_dir / "input" / "checkpoint.pt")
    train = context.dataset_folder(config["train"], "classes")
    test = context.dataset_folder(config["test"], "classes")
    report = evaluate_knn(checkpoint, train, test, config.get("device", "auto"),
                          ks=tuple(config.get("k", (20, 200))),
                          temperature=config.get("temperature", 0.07))
    return Outcome("succeeded", {"metrics": {"knn": report}})


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
    "pretrain": run_pretrain,
    "evaluate": run_evaluate,
    "probe": run_probe,
}
