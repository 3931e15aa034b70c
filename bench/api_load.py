"""API load benchmark: our endpoints beside a bare FastAPI anchor, and ingest beside raw S3.

    python -m bench.api_load [--duration 10] [--connections 64] [--rounds 2]

Everything runs on loopback in this one run: a fresh Postgres database migrated by Alembic,
a SeaweedFS S3 server (``weed mini``), Redis as the Celery broker, and two uvicorn servers
with the same settings (one process each): Hatchery's API and ``bench.anchor_app`` (one
indexed 20-row ORM select, no auth; ``--anchor-tuned-gc`` gives it the API's
garbage-collector settings, for a reference run). ``wrk`` drives each endpoint with the same
number of connections, alternating round by round; medians are printed with their ratio to
the anchor.
Submitted jobs are marked succeeded every ``--drain-seconds`` as a worker fleet would (the
queue stays short; ``0`` lets it grow to tens of thousands, past the default limit of 1,000).

Ingest: the 1,770 NEU-DET images uploaded through ``POST /datasets/{id}/items`` (batches of
``--ingest-batch`` files, ``--ingest-clients`` concurrent clients) against raw S3 PUTs of the
same bytes with the same concurrency through the ``minio`` client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from minio import Minio
from sqlalchemy import create_engine, text

from api.migrate import migrate_database
from tests.integration.servers import (
    S3Server,
    free_port,
    postgres_database,
    seaweedfs,
    wait_for_port,
)

PASSWORD = "correct horse battery staple"
BROKER_DB = 15  # the benchmark's own Redis database, emptied at its start
LIST_SEED_IMAGES = 200


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: str = ""  # e.g. "timeout 3, non-2xx 1"


def parse_wrk(output: str) -> WrkResult:
    """Requests/sec, p50/p99 (``--latency``) and non-2xx/socket errors from wrk's report."""
    def millis(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
        return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk report:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    kinds = {"non-2xx": int(non_2xx.group(1)) if non_2xx else 0}
    if socket:
        kinds.update(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()),
                         strict=True))
    return WrkResult(rate, millis(percentiles["50"]), millis(percentiles["99"]),
                     sum(kinds.values()),
                     ", ".join(f"{kind} {count}" for kind, count in kinds.items() if count))


def wrk(url: str, headers: dict[str, str], duration: int, connections: int,
        body: dict | None = None) -> WrkResult:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                         'wrk.headers["Content-Type"] = "application/json"\n')
    command += ["-s", script.name, url]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(output)


@contextmanager
def uvicorn(target: str, env: dict[str, str], log: Path, factory: bool = False):
    """One uvicorn process (one event loop, FastAPI's default thread pool); yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if factory:
        command.append("--factory")
    with log.open("w") as sink:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def api_environment(database_url: str, s3: S3Server, bucket: str) -> dict[str, str]:
    """The API's settings; the queued-jobs limit stays at its default (1,000)."""
    return {
        "HATCHERY_ENVIRONMENT": "test", "HATCHERY_DATABASE_URL": database_url,
        "HATCHERY_STORAGE_URL": f"s3://{bucket}", "HATCHERY_S3_ENDPOINT": s3.endpoint,
        "HATCHERY_S3_ACCESS_KEY": s3.access_key, "HATCHERY_S3_SECRET_KEY": s3.secret_key,
        "HATCHERY_BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
        "HATCHERY_SECRET_KEY": uuid.uuid4().hex,
    }


class Tenant:
    """One signed-up organization talking to the API over HTTP."""

    def __init__(self, base: str, organization: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=600)
        response = self.client.post("/api/v1/auth/signup", json={
            "email": f"{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD,
            "organization_name": organization})
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self.organization_id = self.client.get("/api/v1/organization").json()["id"]
        self.client.headers["X-Hatchery-Organization"] = self.organization_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.client.headers["Authorization"],
                "X-Hatchery-Organization": self.organization_id}

    def post(self, path: str, **kwargs) -> dict:
        response = self.client.post(path, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def new_dataset(self, name: str) -> tuple[dict, dict]:
        project = self.post("/api/v1/projects", json={"name": f"project-{name}"})
        dataset = self.post(f"/api/v1/projects/{project['id']}/datasets", json={"name": name})
        return project, dataset


def upload_batches(base: str, headers: dict[str, str], dataset_id: str,
                   files: list[tuple[str, bytes]], batch: int, clients: int) -> int:
    batches = [files[i:i + batch] for i in range(0, len(files), batch)]

    def send(chunk: list[tuple[str, bytes]]) -> int:
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            response = client.post(f"/api/v1/datasets/{dataset_id}/items", files=[
                ("files", (name, data, "image/jpeg")) for name, data in chunk])
            response.raise_for_status()
            return response.json()["added"]

    with ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(send, batches))


def raw_puts(s3: S3Server, files: list[tuple[str, bytes]], clients: int) -> None:
    import io

    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False, region="us-east-1")
    bucket = f"raw-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)

    def put(item: tuple[str, bytes]) -> None:
        name, data = item
        client.put_object(bucket, f"raw/{name}", io.BytesIO(data), len(data),
                          content_type="image/jpeg")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(put, files))


def announced_jobs(database_url: str, settle_seconds: float = 30.0) -> tuple[int, int]:
    """(jobs in the database, run_job messages waiting in Redis) once both stopped changing
    (requests wrk left in flight still commit): every job must be announced exactly once."""
    broker = redis.Redis(db=BROKER_DB)
    engine = create_engine(database_url)
    deadline = time.monotonic() + settle_seconds
    last = None
    while True:
        with engine.connect() as connection:
            jobs = connection.execute(text("SELECT count(*) FROM jobs")).scalar_one()
        messages = sum(broker.llen(key) for key in broker.keys("gpu.*")
                       if broker.type(key) == b"list")
        if (jobs, messages) == last or time.monotonic() > deadline:
            engine.dispose()
            return jobs, messages
        last = (jobs, messages)
        time.sleep(1.0)


@contextmanager
def workers_draining(database_url: str, every_seconds: float):
    """Stands in for a worker fleet: every ``every_seconds`` the jobs left queued are marked
    succeeded (one UPDATE), so the queue stays as short as a drained one and the submit
    endpoint is measured in the state it serves in (its quota check counts the waiting jobs,
    up to the queued-jobs limit). ``every_seconds <= 0``: never (the queue only grows)."""
    if every_seconds <= 0:
        yield
        return
    engine = create_engine(database_url)
    stop = threading.Event()

    def drain() -> None:
        while not stop.wait(every_seconds):
            with engine.begin() as connection:
                connection.execute(text("UPDATE jobs SET status = 'succeeded' "
                                        "WHERE status = 'queued'"))

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        engine.dispose()


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/neu-det/IMAGES"))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ingest-batch", type=int, default=30)
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument("--drain-seconds", type=float, default=1.0,
                        help="mark queued jobs succeeded this often, as workers would; 0: "
                             "never (the queued-jobs limit is then lifted)")
    parser.add_argument("--anchor-tuned-gc", action="store_true",
                        help="give the anchor the API's garbage-collector settings (a "
                             "reference run: what those settings are worth on their own)")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep server logs and data in this folder")
    args = parser.parse_args()
    files = [(p.name, p.read_bytes()) for p in sorted(args.images.glob("*.jpg"))]

    redis.Redis(db=BROKER_DB).flushdb()
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        migrate_database(database_url)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hatchery-"))
                       if args.keep is None else args.keep)
        s3 = stack.enter_context(seaweedfs(workdir / "seaweedfs"))
        env = api_environment(database_url, s3, f"bench-{uuid.uuid4().hex[:8]}")
        if args.drain_seconds <= 0:  # tens of thousands of jobs will wait
            env["HATCHERY_MAX_QUEUED_JOBS"] = "10000000"
        base = stack.enter_context(uvicorn("api.main:app", env, workdir / "api.log"))
        tenant = Tenant(base, "Load Test Castings")
        Tenant(base, "Neighbour Foundry").new_dataset("theirs")  # other tenants' rows exist
        project, dataset = tenant.new_dataset("list")
        tenant.post(f"/api/v1/datasets/{dataset['id']}/items", files=[
            ("files", (n, d, "image/jpeg")) for n, d in files[:LIST_SEED_IMAGES]])
        version = tenant.post(f"/api/v1/datasets/{dataset['id']}/versions", json={})
        engine = create_engine(database_url)
        with engine.begin() as connection:  # the bench submits thousands of queued jobs
            connection.execute(text("UPDATE organizations SET concurrent_jobs_quota = 10000000"))
        engine.dispose()
        anchor = stack.enter_context(uvicorn("bench.anchor_app:create", {
            "ANCHOR_DATABASE_URL": database_url, "ANCHOR_DATASET_ID": dataset["id"],
            "ANCHOR_TUNE_GC": "1" if args.anchor_tuned_gc else "0"},
            workdir / "anchor.log", factory=True))

        anchor_name = "anchor (bare FastAPI, 20-row select{})".format(
            ", the API's GC settings" if args.anchor_tuned_gc else "")
        contenders = {
            anchor_name: (f"{anchor}/anchor", {}, None),
            "GET dataset items (20 per page)": (
                f"{base}/api/v1/datasets/{dataset['id']}/items?limit=20", tenant.headers, None),
            "POST job submit": (f"{base}/api/v1/projects/{project['id']}/jobs", tenant.headers,
                                {"kind": "pretrain",
                                 "inputs": {"dataset_version_id": version["id"]},
                                 "config": {"steps": 100}}),
        }
        results: dict[str, list[WrkResult]] = {name: [] for name in contenders}
        with workers_draining(database_url, args.drain_seconds):
            for url, headers, body in contenders.values():  # warm-up
                wrk(url, headers, 2, args.connections, body)
            for round_index in range(args.rounds):
                for name, (url, headers, body) in contenders.items():
                    results[name].append(
                        wrk(url, headers, args.duration, args.connections, body))
                    print(f"round {round_index + 1} {name}: {results[name][-1]}", flush=True)

        anchor_rate = statistics.median(r.requests_per_s for r in results[next(iter(results))])
        anchor_p99 = statistics.median(r.p99_ms for r in results[next(iter(results))])
        rows = []
        for name, runs in results.items():
            rate = statistics.median(r.requests_per_s for r in runs)
            p50 = statistics.median(r.p50_ms for r in runs)
            p99 = statistics.median(r.p99_ms for r in runs)
            rows.append([name, f"{rate:.0f}", f"{p50:.1f}", f"{p99:.1f}",
                         f"{rate / anchor_rate:.2f}x", f"{p99 / anchor_p99:.2f}x",
                         str(sum(r.errors for r in runs))])
        print_table(f"wrk, {args.connections} connections, {args.rounds} x {args.duration} s, "
                    "medians", ["endpoint", "req/s", "p50 ms", "p99 ms", "req/s vs anchor",
                                "p99 vs anchor", "errors"], rows)

        jobs, messages = announced_jobs(database_url)
        print(f"\n{jobs} jobs submitted, {messages} announcements in the broker")

        if not args.skip_ingest:
            _, ingest = tenant.new_dataset("ingest")
            started = time.perf_counter()
            added = upload_batches(base, tenant.headers, ingest["id"], files,
                                   args.ingest_batch, args.ingest_clients)
            api_seconds = time.perf_counter() - started
            started = time.perf_counter()
            raw_puts(s3, files, args.ingest_clients)
            raw_seconds = time.perf_counter() - started
            megabytes = sum(len(d) for _, d in files) / 1e6
            print_table(
                f"ingest of {len(files)} images ({megabytes:.1f} MB), "
                f"{args.ingest_clients} clients", ["path", "seconds", "images/s", "vs raw"],
                [[f"upload API (batches of {args.ingest_batch}; {added} added)",
                  f"{api_seconds:.1f}", f"{len(files) / api_seconds:.0f}",
                  f"{raw_seconds / api_seconds:.2f}x"],
                 ["raw S3 PUTs (minio client)", f"{raw_seconds:.1f}",
                  f"{len(files) / raw_seconds:.0f}", "1.00x"]])


if __name__ == "__main__":
    main()
