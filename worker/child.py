"""The job's own process: ``python -m worker.child <job id> <lease owner>``.

Started fresh for every job by the supervisor (so GPU memory goes back to the system when it
ends), or once per GPU under ``torchrun`` for a multi-GPU job. It runs the job kind's runner
and writes how the job ended — while it still holds the lease; a process that lost its lease
writes nothing. Exit code 0: the outcome is recorded; anything else: the supervisor decides.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import uuid
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from api.kit.db import create_db_engine, make_session_factory, session_scope
from api.kit.settings import get_settings
from api.kit.storage import build_store
from api.models.jobs import Job, JobStatus
from engine.errors import HatcheryInputError
from worker.cache import DatasetCache
from worker.channel import JobChannel
from worker.lifetime import die_with_parent
from worker.runners import RUNNERS, JobContext, Outcome
from worker.scheduler import release

log = logging.getLogger("hatchery.worker.child")

OUTCOME_STATUS = {"succeeded": JobStatus.succeeded, "failed": JobStatus.failed,
                  "cancelled": JobStatus.cancelled, "interrupted": JobStatus.queued}


def record_outcome(factory, job_id: uuid.UUID, organization_id: uuid.UUID, owner: str,
                   outcome: Outcome) -> bool:
    """End the job as ``outcome`` says (``interrupted``: back to the queue); False when
    ``owner`` no longer holds the lease."""
    failed = outcome.status == "failed"
    event = {"error": outcome.error.splitlines()[-1][:500]} if outcome.error else {}
    given_back = {"attempts": Job.attempts - 1} if outcome.given_back else {}
    return release(factory, job_id, organization_id, owner, OUTCOME_STATUS[outcome.status],
                   event, result=outcome.result, error=outcome.error[-4000:] if failed else "",
                   **given_back)


def _with_retries(call, attempts: int = 5, pause_seconds: float = 2.0):
    """``call()``, tried again while the database does not answer (the work is done)."""
    for attempt in range(attempts):
        try:
            return call()
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            log.exception("database unavailable; trying again in %.0f s", pause_seconds)
            time.sleep(pause_seconds)
    return None


def main(job_id_text: str, owner: str) -> int:
    die_with_parent()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    factory = make_session_factory(create_db_engine(settings.database_url))
    job_id = uuid.UUID(job_id_text)
    with session_scope(factory) as session:
        job = session.get(Job, job_id)
        row = (job.organization_id, job.kind, dict(job.config), dict(job.artifacts), job.gpus,
               job.parent_id)
    organization_id, kind, config, artifacts, gpus, parent_id = row
    rank = int(os.environ.get("RANK", "0"))
    channel = JobChannel(factory, job_id, organization_id, owner,
                         settings.progress_flush_seconds, writer=rank == 0, parent_id=parent_id)
    store = build_store(settings)
    context = JobContext(
        job_id=job_id, organization_id=organization_id, kind=kind, config=config,
        artifacts=artifacts, gpus=gpus, factory=factory, store=store,
        cache=DatasetCache(settings.worker_cache_dir, store, settings.worker_cache_bytes),
        channel=channel, work_dir=Path(settings.worker_work_dir) / str(job_id) / f"rank{rank}")
    log.info("job %s (%s) starts in process %d", job_id, kind, os.getpid())
    try:
        outcome = RUNNERS[kind](context)
    except HatcheryInputError as error:  # the tenant can fix it: one line says how
        message = context.redact(str(error))
        print(f"error: {message}", flush=True)
        outcome = Outcome("failed", error=message)
    except Exception as error:  # the job fails with the reason; the worker lives on
        print(context.redact(traceback.format_exc()), end="", flush=True)
        outcome = Outcome("failed", error=context.redact(f"{type(error).__name__}: {error}"))
    if rank != 0:
        return 0

    def finish() -> bool:
        channel.sync()  # the last progress reports first
        return record_outcome(factory, job_id, organization_id, owner, outcome)

    if not _with_retries(finish):
        log.warning("job %s: lease lost, outcome %s not recorded", job_id, outcome.status)
        return 3
    log.info("job %s ends %s", job_id, outcome.status)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1], sys.argv[2])
    # Everything is committed and uploaded: leave now, without waiting for loader workers
    # and library threads to wind down (the supervisor sees the exit at once).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
