"""The load benchmark's anchor: a bare FastAPI endpoint doing one indexed 20-row ORM select.

No authentication, no tenancy, no middleware: the floor any endpoint that reads the same
table through the same ORM and database can be measured against.
``uvicorn --factory bench.anchor_app:create`` with ``ANCHOR_DATABASE_URL`` and
``ANCHOR_DATASET_ID`` set; ``ANCHOR_TUNE_GC=1`` gives it the API's garbage-collector settings
(``api.kit.gc_tuning``), to show what they are worth on their own.
"""

from __future__ import annotations

import os
import uuid

from fastapi import FastAPI
from sqlalchemy import select

from api.kit.db import create_db_engine, make_session_factory
from api.kit.gc_tuning import tune_for_serving
from api.models import metadata  # noqa: F401  (registers every mapped class)
from api.models.datasets import DatasetItem


def create() -> FastAPI:
    engine = create_db_engine(os.environ["ANCHOR_DATABASE_URL"])
    sessions = make_session_factory(engine)
    dataset_id = uuid.UUID(os.environ["ANCHOR_DATASET_ID"])
    app = FastAPI()

    @app.get("/anchor")
    def anchor() -> list[dict]:
        with sessions() as session:
            rows = session.scalars(select(DatasetItem)
                                   .where(DatasetItem.dataset_id == dataset_id)
                                   .order_by(DatasetItem.id).limit(20)).all()
            return [{"id": str(row.id), "path": row.path, "class_name": row.class_name}
                    for row in rows]

    if os.environ.get("ANCHOR_TUNE_GC") == "1":
        tune_for_serving()
    return app
