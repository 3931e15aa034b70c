"""The prediction server: models stay loaded until newer ones push them out; every request
gets an answer, a failure included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from api.kit.storage import LocalStore
from api.kit.tasks import new_prediction_request_id, prediction_answer_key, prediction_request_time
from engine.downstream.classify import train_classifier
from engine.downstream.model_dir import pack_model
from engine.schemas.finetune import ClassifyConfig
from worker.retention import sweep_predictions
from worker.serving import PredictionServer


@pytest.fixture(scope="module")
def packed_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 200)):
        (root / "labeled" / name).mkdir(parents=True)
        for index in range(4):
            pixels = np.clip(rng.normal(level, 10, (32, 32)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "labeled" / name / f"{index}.png")
    train_classifier(ClassifyConfig(backbone={"architecture": "raw_pixels"}, method="linear",
                                    labeled=str(root / "labeled"), image_size=32,
                                    device="cpu"), root / "out")
    return pack_model(root / "out", root / "model.tar")


def request(store: LocalStore, model_key: str, request_id: str, images: dict[str, bytes]
            ) -> dict:
    sent = []
    for index, (name, data) in enumerate(images.items()):
        key = f"org/predictions/{request_id}/images/{index}.png"
        store.put_bytes(key, data, "image/png")
        sent.append({"name": name, "key": key})
    return {"organization_id": "org", "request_id": request_id, "model_key": model_key,
            "images": sent, "heatmaps": False}


def png(level: int) -> bytes:
    from io import BytesIO

    out = BytesIO()
    Image.fromarray(np.full((32, 32), level, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_models_stay_loaded_and_every_request_is_answered(packed_model, tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    for name in ("a", "b"):
        store.put_bytes(f"org/models/{name}.tar", packed_model.read_bytes(), "application/x-tar")
    server = PredictionServer(store, tmp_path / "serving", max_models=1, device="cpu")

    server.answer(request(store, "org/models/a.tar", "r1", {"x.png": png(30),
                                                            "y.png": b"not an image"}))
    answer = json.loads(store.get_bytes(prediction_answer_key("org", "r1")))
    assert answer["task"] == "classify" and not answer["model_was_loaded"]
    first = answer["predictions"][0]
    assert (first["image"], first["class"]) == ("x.png", "dark")
    assert "error" in answer["predictions"][1]
    assert not store.exists("org/predictions/r1/images/0.png")  # the inputs are gone

    server.answer(request(store, "org/models/a.tar", "r2", {"x.png": png(220)}))
    assert json.loads(store.get_bytes(prediction_answer_key("org", "r2")))["model_was_loaded"]
    server.answer(request(store, "org/models/b.tar", "r3", {"x.png": png(220)}))
    assert len(list((tmp_path / "serving").iterdir())) == 1  # a's files left with it

    server.answer(request(store, "org/models/missing.tar", "r4", {"x.png": png(0)}))
    assert "error" in json.loads(store.get_bytes(prediction_answer_key("org", "r4")))


def test_the_sweep_deletes_expired_requests_of_every_organization_and_keeps_the_rest(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    old = new_prediction_request_id(now - timedelta(hours=3))
    recent = new_prediction_request_id(now - timedelta(minutes=5))
    assert prediction_request_time(old) == now.replace(hour=9)
    keys = [f"{org}/predictions/{request_id}/{name}" for org in ("a", "b")
            for request_id in (old, recent, "legacyid")
            for name in ("heatmaps/0000.png", "answer.json")]
    keys.append("a/models/model.tar")  # not a prediction
    for key in keys:
        store.put_bytes(key, b"x", "application/octet-stream")

    deleted = sweep_predictions(store, ["a", "b"], made_before=now - timedelta(hours=2))

    assert deleted == 4
    left = {stored.key for stored in store.list("")}
    assert left == {key for key in keys if old not in key}
