"""A platform deployment with real worker processes, for the tests that run jobs end to end:
the API (in process) and `python -m worker` processes sharing one database, object store and
broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from api.kit.dispatch import CeleryDispatcher
from api.kit.settings import Settings
from api.migrate import migrate_database
from api.models.jobs import ACTIVE, Job, JobEvent, JobStatus
from tests.integration.conftest import Api, Member, make_api
from tests.integration.workers import RedisServer, WorkerPool, wait_for

JOB_TIMEOUT = 150.0
FAST_LEASES = {"lease_seconds": 8.0, "heartbeat_seconds": 0.5, "housekeeping_seconds": 1.0,
               "cancel_grace_seconds": 3.0, "progress_flush_seconds": 0.2}


@dataclass
class Deployment:
    api: Api
    workers: WorkerPool
    redis: RedisServer | None

    def job(self, job_id: str) -> Job:
        with self.api.session() as session:
            return session.get(Job, uuid.UUID(job_id))

    def events(self, job_id: str, kind: str) -> list[JobEvent]:
        with self.api.session() as session:
            return list(session.scalars(select(JobEvent).where(
                JobEvent.job_id == uuid.UUID(job_id), JobEvent.kind == kind)
                .order_by(JobEvent.created_at, JobEvent.step)))

    def wait_status(self, member: Member, job_id: str, *statuses: str,
                    timeout: float = JOB_TIMEOUT) -> dict:
        def reached():
            job = member.ok("GET", f"/api/v1/jobs/{job_id}")
            return job if job["status"] in statuses else None

        return wait_for(reached, timeout, f"job {job_id} to be {statuses}", self.workers.logs)


def deploy(settings: Settings, workdir: Path, redis: RedisServer | None
           ) -> Iterator[Deployment]:
    pool = WorkerPool(settings, workdir)
    dispatcher = CeleryDispatcher(settings.broker_url, settings.message_expires_seconds,
                                  separate_process=True)  # as the API runs it
    for api in make_api(settings, dispatcher):
        try:
            yield Deployment(api, pool, redis)
        finally:
            pool.stop_all()
            with api.session() as session:  # the next test's workers start clean
                session.execute(update(Job).where(Job.status.in_(ACTIVE))
                                .values(status=JobStatus.cancelled, lease_owner=None))
                session.commit()


def embedded_deployment(workdir: Path) -> Iterator[Deployment]:
    """SQLite + a folder + Celery over SQLite, as `make run` runs it."""
    database = f"sqlite:///{workdir / 'hatchery.db'}"
    migrate_database(database)
    settings = Settings(environment="test", database_url=database,
                        storage_url=f"file://{workdir / 'objects'}",
                        broker_url=f"sqla+sqlite:///{workdir / 'broker.db'}",
                        login_failures_per_window=1000, **FAST_LEASES)
    yield from deploy(settings, workdir, None)
