"""/api/v1: predictions from a registered model version on uploaded images."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status

from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.problems import TooLarge, Unprocessable
from api.predictions import service
from api.predictions.schemas import PredictionJobOut, PredictionsOut
from api.tenancy import WriterDep

router = APIRouter(prefix="/api/v1", tags=["predictions"])


@router.post("/model-versions/{version_id}/predict",
             response_model=PredictionsOut | PredictionJobOut,
             responses={202: {"model": PredictionJobOut,
                              "description": "more images than are answered at once"}})
def predict(version_id: uuid.UUID, request: Request, response: Response, tenant: WriterDep,
            session: SessionDep, store: StoreDep, settings: SettingsDep,
            files: Annotated[list[UploadFile], File(description="images")],
            heatmaps: Annotated[bool, Form(description="anomaly: heat-map URLs")] = False,
            ) -> PredictionsOut | PredictionJobOut:
    """Up to ``predict_max_images`` images (16) are answered at once by a prediction server
    that keeps recently used models loaded; more become a ``predict`` job (202)."""
    version = service.model_of(session, tenant, version_id)
    dispatcher = request.app.state.dispatcher
    if len(files) > settings.predict_max_images:
        job, dataset = service.predict_later(
            session, tenant, dispatcher, store, settings, version,
            [(upload.filename or "unnamed", upload.file) for upload in files], heatmaps)
        response.status_code = status.HTTP_202_ACCEPTED
        return PredictionJobOut(job_id=job.id, dataset_id=dataset.id, status=job.status.value)
    images = []
    for upload in files:
        data = upload.file.read(settings.max_image_bytes + 1)
        name = upload.filename or "unnamed"
        if len(data) > settings.max_image_bytes:
            raise TooLarge(f"{name}: larger than {settings.max_image_bytes} bytes")
        if not data:
            raise Unprocessable(f"{name}: the file is empty")
        images.append((name, data))
    session.close()  # the wait holds no database connection
    return PredictionsOut(**service.predict_now(store, dispatcher, settings, tenant, version,
                                                images, heatmaps))
