"""The embedded platform (``python -m worker.embedded``, as ``make run`` starts it) on a free
port with its own database, object store and broker in a temporary folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, update

from api.models.auth import User

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Platform:
    url: str
    database_url: str
    process: subprocess.Popen
    log: Path

    def make_platform_admin(self, email: str) -> None:
        engine = create_engine(self.database_url)
        with engine.begin() as connection:
            connection.execute(update(User).where(User.email == email)
                               .values(is_platform_admin=True))
        engine.dispose()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def start_platform(workdir: Path, neu_det: Path, seconds: float = 180) -> Platform:
    """Start the platform (a demo organization seeded with one NEU-DET image per class) and
    wait until it prints its URL."""
    port = free_port()
    database_url = f"sqlite:///{workdir / 'hatchery.db'}"
    env = {**os.environ,
           "HATCHERY_DATABASE_URL": database_url,
           "HATCHERY_STORAGE_URL": f"file://{workdir / 'objects'}",
           "HATCHERY_BROKER_URL": f"sqla+sqlite:///{workdir / 'broker.db'}",
           "HATCHERY_WORKER_CACHE_DIR": str(workdir / "cache"),
           "HATCHERY_SECRET_KEY": "e2e-" + "x" * 60,
           "HATCHERY_LOGIN_FAILURES_PER_WINDOW": "1000"}
    log = workdir / "platform.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.embedded", "--data", str(neu_det), "--port",
             str(port), "--per-class", "1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    platform = Platform(f"http://127.0.0.1:{port}", database_url, process, log)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the platform exited:\n{log.read_text()[-4000:]}")
        if "Hatchery runs at" in log.read_text(errors="replace"):
            httpx.get(f"{platform.url}/healthz", timeout=5).raise_for_status()
            return platform
        time.sleep(0.5)
    platform.stop()
    raise RuntimeError(f"the platform did not start:\n{log.read_text()[-4000:]}")
