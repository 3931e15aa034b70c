"""The Celery app of the workers: ``celery -A worker.app worker`` (or ``python -m worker``).

Messages are acknowledged after the task ends (``acks_late``) and go back to the queue when a
worker dies mid-task; each worker takes one message at a time (prefetch 1) in its own process
(solo pool) and runs each job in a fresh child process. Redelivery is harmless: a message
only says "a job waits on this queue", and jobs are claimed in the database. A worker on the
``predict`` queue is a prediction server instead (worker/serving.py): it answers predict
requests in its own process, keeping recently used models loaded.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from celery import Celery, signals

from api.kit.settings import get_settings
from api.kit.storage import build_store
from api.kit.tasks import PREDICT_TASK, RUN_JOB_TASK, broker_transport_options
from worker.runtime import WorkerRuntime
from worker.serving import PredictionServer

log = logging.getLogger("hatchery.worker")


SQL_BROKER_POLLING_SECONDS = 0.05


def create_celery(broker_url: str) -> Celery:
    if broker_url.startswith("sqla+"):
        # Embedded mode: the SQL transport polls (1 s by default); poll often enough that an
        # idle worker starts a job at once. Its transport options would reach create_engine.
        from kombu.transport import sqlalchemy

        sqlalchemy.Transport.polling_interval = SQL_BROKER_POLLING_SECONDS
    celery = Celery("hatchery-worker", broker=broker_url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_transport_options=broker_transport_options(broker_url),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker restart is waited out, never fatal
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,  # for Flower
    )
    return celery


app = create_celery(get_settings().broker_url)


@cache
def runtime() -> WorkerRuntime:
    return WorkerRuntime.from_settings(get_settings())


@app.task(name=RUN_JOB_TASK, bind=True)
def run_job(self, announced_job_id: str) -> dict:
    """A job waits on the queue this message came from: claim the fairest one and run it."""
    worker = runtime()
    queue = (self.request.delivery_info or {}).get("routing_key") or worker.queues[0]
    summary = worker.take(queue)
    log.info("message for job %s on %s: %s", announced_job_id, queue, summary)
    return summary


@cache
def prediction_server() -> PredictionServer:
    settings = get_settings()
    return PredictionServer(build_store(settings), Path(settings.worker_work_dir) / "serving",
                            settings.serving_models)


@app.task(name=PREDICT_TASK)
def predict_images(request: dict) -> None:
    """A synchronous predict request (a worker on the ``predict`` queue): answer it."""
    prediction_server().answer(request)


@signals.worker_ready.connect
def _start_housekeeping(**_) -> None:
    runtime().start_housekeeping()


@signals.worker_shutting_down.connect
def _stop(**_) -> None:
    runtime().shutting_down.set()


@signals.worker_shutdown.connect
def _send_pending_announcements(**_) -> None:
    if runtime.cache_info().currsize:
        runtime().dispatcher.close()
