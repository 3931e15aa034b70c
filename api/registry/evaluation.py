"""A model version's evaluation (the ``evaluation`` artifact its finetune job left, written
by ``engine.downstream.evaluation``) as the API shows it: its pictures presigned."""

from __future__ import annotations

import json
import uuid

from api.kit.problems import NotFound
from api.kit.storage import ObjectStore
from api.models.registry import ModelVersion
from api.registry.schemas import ModelEvaluation

EVALUATION_ARTIFACT = "evaluation"


def evaluation_of(version: ModelVersion, organization_id: uuid.UUID, store: ObjectStore,
                  presign_seconds: int) -> ModelEvaluation:
    """The version's evaluation; 404 when its job kept none (a backbone, a detector, a model
    trained without validation images or before evaluations were kept)."""
    key = version.artifacts.get(EVALUATION_ARTIFACT)
    if key is None or not store.exists(key):
        raise NotFound(f"model version {version.id} has no evaluation: only classify and "
                       "anomaly models trained with validation (test) images have one")
    document = json.loads(store.get_bytes(key))
    own = f"{organization_id}/"
    images = []
    for image in document.get("images", []):
        picture = image.pop("picture", None)
        url = (store.presigned_get(picture, presign_seconds)
               if isinstance(picture, str) and picture.startswith(own) else None)
        images.append({**image, "picture_url": url})
    return ModelEvaluation.model_validate({
        **{name: document.get(name) for name in ("task", "class_names", "threshold",
                                                  "confusion_matrix", "curves",
                                                  "images_total")},
        "model_version_id": version.id, "images": images})
