"""How fast a queued job starts, beside a bare Celery round trip on the same Redis.

In one run, on a Redis of its own, a fresh Postgres database and a folder store:
- ``celery_roundtrip``: a bare Celery app (the peer): send a no-op task to an idle solo
  worker and wait for its result — what the broker and Celery cost alone;
- ``queued_to_running``: a probe job submitted through the API (in process) with one idle
  Hatchery worker; latency = the job's ``running`` event minus its ``queued_at`` (commit,
  publish, delivery, fair claim);
- ``throughput``: 200 probe jobs, 100 from each of two organizations (the first submits all
  of its 100 before the second submits any), across 2 workers: jobs/s and fairness — the
  second organization's share of the first 100 starts (0.5 is even; FIFO would give 0).

    python -m bench.queue_latency [--latency-jobs 50] [--jobs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.kit.db import create_db_engine, make_session_factory
from api.kit.dispatch import CeleryDispatcher
from api.kit.settings import Settings
from api.main import create_app
from api.migrate import migrate_database
from api.models.jobs import Job, JobEvent, JobStatus
from tests.integration.servers import postgres_database
from tests.integration.workers import WorkerPool, redis_server

ROOT = Path(__file__).resolve().parents[1]
PEER_APP = "bench.queue_latency_peer"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p99_ms": round(1000 * at(0.99), 2), "max_ms": round(1000 * ordered[-1], 2),
            "n": len(ordered)}


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------ peer
def celery_roundtrips(broker: str, count: int, workdir: Path) -> list[float]:
    """Bare Celery: a solo worker answers a no-op task; seconds from send to result."""
    env = {**os.environ, "BENCH_BROKER": broker, "PYTHONPATH": str(ROOT)}
    log = (workdir / "peer.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", PEER_APP, "worker", "--pool=solo",
         "--concurrency=1", "-Q", "peer", "--without-gossip", "--without-mingle",
         "--loglevel=WARNING"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        app = Celery("peer-client", broker=broker, backend=broker)
        for _ in range(5):  # warm-up, and wait for the worker to be up
            app.send_task("peer.noop", queue="peer").get(timeout=60)
        seconds = []
        for _ in range(count):
            started = time.perf_counter()
            app.send_task("peer.noop", queue="peer").get(timeout=30)
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


# ------------------------------------------------------------------------------------ ours
class Platform:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.factory = make_session_factory(create_db_engine(settings.database_url))
        self.dispatcher = CeleryDispatcher(settings.broker_url, settings.message_expires_seconds,
                                           separate_process=True)  # as the API runs it
        self.client = TestClient(create_app(settings, dispatcher=self.dispatcher))
        self.workers = WorkerPool(settings, workdir)

    def organization(self, name: str) -> tuple[dict, str]:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        token = self.client.post("/api/v1/auth/signup", json={
            "email": email, "password": "benchmark password", "organization_name": name,
        }).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        project = self.client.post("/api/v1/projects", json={"name": "bench"},
                                   headers=headers).json()
        return headers, project["id"]

    def submit_probe(self, headers: dict, project_id: str) -> str:
        response = self.client.post(f"/api/v1/projects/{project_id}/jobs", headers=headers,
                                    json={"kind": "probe", "gpus": 0})
        response.raise_for_status()
        return response.json()["id"]

    def wait_done(self, job_ids: list[str], timeout: float) -> None:
        ids = [uuid.UUID(job_id) for job_id in job_ids]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.factory() as session:
                open_jobs = session.scalar(select(Job.id).where(
                    Job.id.in_(ids), Job.status.in_((JobStatus.queued, JobStatus.running)))
                    .limit(1))
            if open_jobs is None:
                return
            time.sleep(0.05)
        raise TimeoutError(f"jobs still open after {timeout} s\n{self.workers.logs()}")

    def start_delays(self, job_ids: list[str]) -> dict[str, tuple[float, float]]:
        """job id -> (queued_at, first running event), as UNIX seconds."""
        with self.factory() as session:
            rows = session.execute(
                select(Job.id, Job.queued_at, JobEvent.created_at)
                .join(JobEvent, JobEvent.job_id == Job.id)
                .where(Job.id.in_([uuid.UUID(j) for j in job_ids]), JobEvent.kind == "status",
                       JobEvent.data["status"].as_string() == "running")).all()
        return {str(job_id): (queued.timestamp(), running.timestamp())
                for job_id, queued, running in rows}


def queued_to_running(platform: Platform, count: int) -> list[float]:
    headers, project = platform.organization("latency")
    delays = []
    for _ in range(count + 3):
        job_id = platform.submit_probe(headers, project)
        platform.wait_done([job_id], 120)
        queued, running = platform.start_delays([job_id])[job_id]
        delays.append(running - queued)
    return delays[3:]  # the first ones warm the worker up


def throughput(platform: Platform, jobs: int) -> dict:
    (first, first_project), (second, second_project) = (
        platform.organization(name) for name in ("first", "second"))
    started = time.perf_counter()
    first_ids = [platform.submit_probe(first, first_project) for _ in range(jobs // 2)]
    second_ids = [platform.submit_probe(second, second_project) for _ in range(jobs // 2)]
    platform.wait_done(first_ids + second_ids, 1800)
    seconds = time.perf_counter() - started
    starts = platform.start_delays(first_ids + second_ids)
    order = sorted(starts, key=lambda job_id: starts[job_id][1])
    second_set = set(second_ids)
    share = sum(job_id in second_set for job_id in order[:jobs // 2]) / (jobs // 2)
    first_wait = min(starts[j][1] - starts[j][0] for j in second_ids)
    return {"jobs": jobs, "seconds": round(seconds, 2), "jobs_per_second": round(jobs / seconds, 2),
            "second_org_share_of_first_half": round(share, 3),
            "second_org_first_start_wait_s": round(first_wait, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-jobs", type=int, default=50)
    parser.add_argument("--roundtrips", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="queue-bench-")))
        redis = stack.enter_context(redis_server(workdir))
        database = stack.enter_context(postgres_database())
        migrate_database(database)

        peer = celery_roundtrips(redis.url.replace("/0", "/1"), args.roundtrips, workdir)
        emit({"bench": "queue_latency", "case": "celery_roundtrip", **percentiles(peer)})

        settings = Settings(environment="test", database_url=database,
                            storage_url=f"file://{workdir / 'objects'}", broker_url=redis.url,
                            default_concurrent_jobs=4, max_queued_jobs=10_000)
        platform = Platform(settings, workdir)
        stack.enter_context(platform.client)
        stack.callback(platform.workers.stop_all)
        platform.workers.start("bench1", queues="cpu")
        ours = queued_to_running(platform, args.latency_jobs)
        emit({"bench": "queue_latency", "case": "queued_to_running", **percentiles(ours),
              "p50_vs_celery": round(statistics.median(ours) / statistics.median(peer), 1)})

        platform.workers.start("bench2", queues="cpu")
        emit({"bench": "queue_latency", "case": "throughput_2_workers",
              **throughput(platform, args.jobs)})


if __name__ == "__main__":
    main()
