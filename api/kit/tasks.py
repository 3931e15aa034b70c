"""What the API and the workers agree on over the broker: the tasks' names and how messages
are kept. Neutral ground: the API sends tasks by name and never imports worker code; the
workers consume them. ``RUN_JOB_TASK`` waits on the queues the job-kind table names
(``engine.schemas.kinds``: ``gpu.any``, ``gpu.any.xN``, ``cpu``); ``PREDICT_TASK`` asks a
prediction server (``python -m worker --queues predict``) to answer a synchronous predict
request, on ``PREDICT_QUEUE``. Its answer is an object in the store, at
``prediction_answer_key``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

RUN_JOB_TASK = "hatchery.run_job"
PREDICT_TASK, PREDICT_QUEUE = "hatchery.predict_images", "predict"


# A request id starts with its UTC time, so a sweep of old requests needs no metadata.
REQUEST_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def predictions_root(organization_id: str) -> str:
    """The folder of an organization's synchronous predict requests in the store."""
    return f"{organization_id}/predictions"


def prediction_prefix(organization_id: str, request_id: str) -> str:
    """Where a synchronous predict request's images, heat maps and answer live in the store."""
    return f"{predictions_root(organization_id)}/{request_id}"


def new_prediction_request_id(now: datetime) -> str:
    """A unique id for a request made at ``now`` (UTC): ``20261130T101500Z-<16 hex>``."""
    return f"{now.strftime(REQUEST_TIME_FORMAT)}-{uuid.uuid4().hex[:16]}"


def prediction_request_time(request_id: str) -> datetime | None:
    """When the request ``request_id`` was made (UTC), or None for an id without its time
    (a request of an older version)."""
    try:
        made = datetime.strptime(request_id.split("-", 1)[0], REQUEST_TIME_FORMAT)
    except ValueError:
        return None
    return made.replace(tzinfo=UTC)


def prediction_answer_key(organization_id: str, request_id: str) -> str:
    return f"{prediction_prefix(organization_id, request_id)}/answer.json"


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """Redis: a message unacknowledged for an hour goes back to the queue (the job lease makes
    that harmless). kombu's SQLAlchemy transport hands its options to ``create_engine``, so
    it gets none (its polling interval is set by the worker, worker/app.py)."""
    if broker_url.startswith("sqla+"):
        return {}
    return {"visibility_timeout": 3600}
