"""A prediction server: answers the API's synchronous predict requests, keeping the most
recently used models loaded.

``python -m worker --queues predict`` runs one (``make run`` starts one beside the job
worker). A request (``api.kit.tasks.PREDICT_TASK``) names the organization, the packed model
directory's object key and the images already in the store; the answer is written back to
the store at ``prediction_answer_key``, where the API is waiting for it. A model is
downloaded and loaded on first use and kept (least recently used leave first), so a second
request to the same model pays only for its images. Any failure becomes an answer with its
``error``, never a request left waiting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from api.kit.storage import ObjectStore
from api.kit.tasks import prediction_answer_key, prediction_prefix
from worker.runners import download

log = logging.getLogger("hatchery.worker.serving")


class PredictionServer:
    def __init__(self, store: ObjectStore, root: str | Path, max_models: int,
                 device: str = "auto") -> None:
        self.store = store
        self.root = Path(root)
        self.max_models = max_models
        self.device = device
        # model key -> (Predictor, the folder it was unpacked in), least recently used first
        self._loaded: OrderedDict[str, tuple[Any, Path]] = OrderedDict()

    def predictor(self, model_key: str) -> tuple[Any, bool]:
        """The loaded model of ``model_key`` and whether it was loaded already."""
        if model_key in self._loaded:
            self._loaded.move_to_end(model_key)
            return self._loaded[model_key][0], True
        from engine.downstream.model_dir import unpack_model
        from engine.downstream.predict import Predictor

        directory = self.root / hashlib.sha256(model_key.encode()).hexdigest()[:32]
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        archive = directory / "model.tar"
        download(self.store, model_key, archive)
        predictor = Predictor(unpack_model(archive, directory / "model"), self.device)
        self._loaded[model_key] = (predictor, directory)
        while len(self._loaded) > self.max_models:
            _, (_, unloaded) = self._loaded.popitem(last=False)
            shutil.rmtree(unloaded, ignore_errors=True)
        return predictor, False

    def answer(self, request: dict[str, Any]) -> None:
        """Predict every image of ``request``; write the answer where the API waits."""
        organization, request_id = request["organization_id"], request["request_id"]
        try:
            answer = self._predict(request)
        except Exception as error:  # the caller hears of it at once, in one line
            log.exception("prediction request %s failed", request_id)
            answer = {"error": f"{type(error).__name__}: {error}"}
        finally:
            for image in request["images"]:
                self.store.delete(image["key"])
        self.store.put_bytes(prediction_answer_key(organization, request_id),
                             json.dumps(answer).encode(), "application/json")

    def _predict(self, request: dict[str, Any]) -> dict[str, Any]:
        predictor, was_loaded = self.predictor(request["model_key"])
        prefix = prediction_prefix(request["organization_id"], request["request_id"])
        predictions = []
        with tempfile.TemporaryDirectory(prefix="hatchery-predict-") as scratch:
            for index, image in enumerate(request["images"]):
                path = Path(scratch) / f"{index:04d}{Path(image['key']).suffix}"
                path.write_bytes(self.store.get_bytes(image["key"]))
                heatmap = Path(scratch) / f"{index:04d}.heatmap.png"
                wanted = request["heatmaps"] and predictor.task == "anomaly"
                prediction = predictor(path, heatmap if wanted else None)
                prediction["image"] = image["name"]
                if prediction.pop("heatmap", None) is not None:
                    key = f"{prefix}/heatmaps/{index:04d}.png"
                    self.store.put_bytes(key, heatmap.read_bytes(), "image/png")
                    prediction["heatmap_key"] = key
                predictions.append(prediction)
        return {"task": predictor.task, "predictions": predictions,
                "model_was_loaded": was_loaded}
