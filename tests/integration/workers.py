"""Real worker processes for integration tests: a Redis of their own, `python -m worker`.

Each test module gets its own Redis server (on a free port, so a test may restart it without
touching the machine's Redis) and starts real worker processes with the settings of the
deployment under test, passed as ``HATCHERY_*`` variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.kit.settings import Settings
from tests.integration.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RedisServer:
    port: int
    workdir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def restart(self) -> None:
        """Everything Redis held is gone (no persistence), as after a crash."""
        self.stop()
        self.start()


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def worker_environment(settings: Settings, **overrides: Any) -> dict[str, str]:
    """The ``HATCHERY_*`` variables that make a worker process use ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HATCHERY_")}
    for name, value in settings.model_dump().items():
        value = overrides.get(name, value)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list | dict):
            import json

            value = json.dumps(value)
        env[f"HATCHERY_{name.upper()}"] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass
class WorkerProcess:
    name: str
    queues: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", "--queues", self.queues, "--name", self.name,
             "--loglevel", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown, no acknowledgement, no cleanup."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class WorkerPool:
    """Starts workers for one deployment; stops every one of them at the end."""

    settings: Settings
    workdir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, name: str, queues: str = "gpu.any,cpu") -> WorkerProcess:
        env = worker_environment(self.settings, worker_work_dir=str(self.workdir / "work"),
                                 worker_cache_dir=str(self.workdir / "cache"),
                                 **self.overrides)
        worker = WorkerProcess(name, queues, env, self.workdir / f"{name}.log").start()
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"===== {w.name}\n{w.output()[-6000:]}" for w in self.started)


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             on_timeout: Callable[[], str] = lambda: "") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{on_timeout()}")
