"""What the API and the workers agree on over the broker: the task's name and how messages
are kept. Neutral ground: the API sends ``RUN_JOB_TASK`` by name and never imports worker
code; the workers consume it. The queues themselves are named by the job-kind table
(``engine.schemas.kinds``: ``gpu.any``, ``gpu.any.xN``, ``cpu``)."""

from __future__ import annotations

from typing import Any

RUN_JOB_TASK = "hatchery.run_job"


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    """Redis: a message unacknowledged for an hour goes back to the queue (the job lease makes
    that harmless). kombu's SQLAlchemy transport hands its options to ``create_engine``, so
    it gets none (its polling interval is set by the worker, worker/app.py)."""
    if broker_url.startswith("sqla+"):
        return {}
    return {"visibility_timeout": 3600}
