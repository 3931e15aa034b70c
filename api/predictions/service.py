"""Predictions from a registered model version on a few uploaded images.

Up to ``predict_max_images`` images are answered at once: they go to the object store, a
prediction server (``worker/serving.py``, which keeps recently used models loaded) is asked
over the broker, and its answer — an object in the store — is waited for. More images become
a ``predict`` job on a new dataset of them in the model's project, answered later as that
job's artifact. Only a version of a finetuned model (one that left a model directory)
predicts; another organization's version is a 404 like every other resource.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from api.datasets.ingest import Ingestor
from api.datasets.repository import Datasets
from api.datasets.service import create_version
from api.jobs import service as jobs
from api.jobs.schemas import JobCreate
from api.kit.dispatch import Dispatcher
from api.kit.problems import Problem, Unprocessable
from api.kit.settings import Settings
from api.kit.storage import ObjectStore
from api.kit.tasks import new_prediction_request_id, prediction_answer_key, prediction_prefix
from api.models.datasets import Dataset
from api.models.jobs import Job
from api.models.registry import ModelVersion, RegisteredModel
from api.registry.repository import ModelVersions
from api.tenancy import Tenant

FIRST_POLL, LAST_POLL = 0.02, 0.25  # seconds between looks for the answer


class NoPredictionServer(Problem):
    status, title, slug = 503, "No prediction server answered", "no-prediction-server"


class PredictionFailed(Problem):
    status, title, slug = 502, "The prediction server failed", "prediction-failed"


def model_of(session: Session, tenant: Tenant, version_id: uuid.UUID) -> ModelVersion:
    """The caller's model version, when it is a finetuned model (it predicts)."""
    version = ModelVersions(session, tenant).get(version_id)
    if "model" not in version.artifacts:
        raise Unprocessable(f"model version {version_id} is a {version.kind} job's pretrained "
                            "backbone; predictions need a finetuned model (a finetune job's "
                            "version)")
    return version


def predict_now(store: ObjectStore, dispatcher: Dispatcher, settings: Settings,
                tenant: Tenant, version: ModelVersion, images: list[tuple[str, bytes]],
                heatmaps: bool) -> dict[str, Any]:
    """Ask a prediction server and wait for its answer: one prediction per image, in order
    (an unreadable image gets its ``error``), heat maps as presigned URLs."""
    organization = str(tenant.organization_id)
    request_id = new_prediction_request_id(datetime.now(UTC))
    prefix = prediction_prefix(organization, request_id)
    sent = []
    for index, (name, data) in enumerate(images):
        key = f"{prefix}/images/{index:04d}{PurePosixPath(name).suffix.lower()[:10]}"
        store.put_bytes(key, data, "application/octet-stream")
        sent.append({"name": name, "key": key})
    started = time.monotonic()
    try:
        dispatcher.request_prediction(
            {"organization_id": organization, "request_id": request_id,
             "model_key": version.artifacts["model"], "images": sent, "heatmaps": heatmaps},
            settings.predict_timeout_seconds)
        answer = _wait_for_answer(store, prediction_answer_key(organization, request_id),
                                  settings.predict_timeout_seconds)
    except Exception as error:  # no answer: the images go, the caller hears why
        for image in sent:
            store.delete(image["key"])
        if isinstance(error, NoPredictionServer):
            raise
        raise NoPredictionServer(f"the request could not reach a prediction server: "
                                 f"{type(error).__name__}") from None
    if "error" in answer:  # the images' own problems are per prediction: this is the server's
        raise PredictionFailed(f"model version {version.id}: {answer['error']}")
    for prediction in answer["predictions"]:
        key = prediction.pop("heatmap_key", None)
        if key is not None:
            prediction["heatmap_url"] = store.presigned_get(key, settings.presign_seconds)
    return {"model_version_id": version.id, "task": answer["task"],
            "predictions": answer["predictions"],
            "seconds": round(time.monotonic() - started, 3),
            "model_was_loaded": answer["model_was_loaded"]}


def _wait_for_answer(store: ObjectStore, key: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL
    while time.monotonic() < deadline:
        if store.exists(key):
            answer = json.loads(store.get_bytes(key))
            store.delete(key)
            return answer
        time.sleep(pause)
        pause = min(LAST_POLL, pause * 1.5)
    raise NoPredictionServer(f"no prediction server answered within {timeout:g} s; start one "
                             "(python -m worker --queues predict) or try again")


def predict_later(session: Session, tenant: Tenant, dispatcher: Dispatcher,
                  store: ObjectStore, settings: Settings, version: ModelVersion,
                  uploads: list[tuple[str, BinaryIO]], heatmaps: bool) -> tuple[Job, Dataset]:
    """Too many images to answer at once: a dataset of them in the model's project (each
    checked like any upload), its first version, and a predict job on it."""
    model = session.get(RegisteredModel, version.model_id)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    dataset = Datasets(session, tenant).add(Dataset(
        project_id=model.project_id, name=f"predictions {stamp} {uuid.uuid4().hex[:6]}",
        description=f"images sent to {model.name} version {version.version}"))
    ingestor = Ingestor(session, store, settings, tenant, dataset)

    def work() -> None:
        for name, stream in uploads:
            ingestor.add_stream(name, stream)

    report = ingestor.run(work)
    if report.count("added") == 0:
        rejected = [f"{file.path}: {file.detail}" for file in report.files
                    if file.status == "rejected"]
        raise Unprocessable("none of the images could be stored: " + "; ".join(rejected[:5]))
    data = create_version(session, tenant, dataset.id, "images to predict")
    job = jobs.submit(session, tenant, dispatcher, model.project_id, JobCreate(
        kind="predict", name=f"predictions of {model.name} v{version.version}",
        inputs={"model_job_id": version.job_id, "dataset_version_id": data.id},
        config={"heatmaps": heatmaps}), settings)
    return job, dataset
