"""What the API and the workers agree on over the broker: the tasks' names and how messages
are kept. Neutral ground: the API sends tasks by name and never imports worker code; the
workers consume them. ``RUN_JOB_TASK`` waits on the queues the job-kind table names
(``engine.schemas.kinds``: ``gpu.any``, ``gpu.any.xN``, ``cpu``); ``PREDICT_TASK`` asks a
prediction server (``python -m worker --queues predict``) to answer a synchronous predict
request, on ``PREDICT_QUEUE``. Its answer is an object in the store, at
``prediction_answer_key``."""

from __future__ import annotations

from typing import Any

RUN_JOB_TASK = "hatchery.run_job"
PREDICT_TASK, PREDICT_QUEUE = "hatchery.predict_images", "predict"


def prediction_prefix(organization_id: str, request_id: str) -> str:
    """Where a synchronous predict request's images and answer live in the store."""
    return f"{organization_id}/predictions/{request_id}"


def prediction_answer_key(organization_id: str, request_id: str) -> str:
    return f"{prediction_prefix(organization_id, request_id)}/answer.json"


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """Redis: a message unacknowledged for an hour goes back to the queue (the job lease makes
    that harmless). kombu's SQLAlchemy transport hands its options to ``create_engine``, so
    it gets none (its polling interval is set by the worker, worker/app.py)."""
    if broker_url.startswith("sqla+"):
        return {}
    return {"visibility_timeout": 3600}
