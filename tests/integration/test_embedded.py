"""``make run``'s embedded platform survives a killed worker: the API serves on and the worker
comes back (with backoff) and runs jobs; its tokens are signed with its own secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.conftest import SHARED_DATA
from tests.integration.servers import free_port
from tests.integration.workers import wait_for
from worker.embedded import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


class Output:
    """The lines a process prints, collected on a thread."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def find(self, text: str) -> str | None:
        return next((line for line in self.lines if text in line), None)

    def __str__(self) -> str:
        return "\n".join(self.lines[-40:])


def children(pid: int, pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", pattern], capture_output=True,
                           text=True).stdout.split()
    return [int(child) for child in found]


def test_a_killed_worker_comes_back_while_the_api_serves_on(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HATCHERY_")}
    env["PYTHONPATH"] = str(ROOT)
    platform = subprocess.Popen(
        [sys.executable, "-m", "worker.embedded", "--data", str(SHARED_DATA / "neu-det"),
         "--port", str(port), "--per-class", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(platform.stdout)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: output.find("Hatchery runs at"), 180, "the platform to start",
                 lambda: str(output))
        secret = (tmp_path / "runs" / "secret_key").read_text().strip()
        assert len(secret) >= 48 and "development" not in secret
        [worker] = wait_for(lambda: children(platform.pid, "worker --queues cpu"), 30,
                            "the worker")
        assert len(children(platform.pid, "worker --queues predict")) == 1  # and a server

        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: output.find("the worker exited with code -9"), 30,
                 "the death to be noticed", lambda: str(output))
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # serving on
        wait_for(lambda: output.find("the worker started again"), 30, "the restart",
                 lambda: str(output))
        [restarted] = children(platform.pid, "worker --queues cpu")
        assert restarted != worker

        with httpx.Client(base_url=base, timeout=30) as client:
            token = client.post("/api/v1/auth/login", json={
                "email": DEMO_EMAIL, "password": DEMO_PASSWORD}).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            project = client.get("/api/v1/projects").json()["items"][0]
            job = client.post(f"/api/v1/projects/{project['id']}/jobs",
                              json={"kind": "probe"}).json()
            assert job["gpus"] == 0 and job["queue"] == "cpu"  # no GPU here: CPU by default

            def finished():
                status = client.get(f"/api/v1/jobs/{job['id']}").json()["status"]
                return status if status in ("succeeded", "failed") else None

            assert wait_for(finished, 120, "the probe job", lambda: str(output)) == "succeeded"
    finally:
        platform.send_signal(signal.SIGTERM)
        try:
            platform.wait(timeout=60)
        except subprocess.TimeoutExpired:
            platform.kill()
