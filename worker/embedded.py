"""``make run``: the whole platform on one machine, nothing to install or start by hand.

Starts the API (uvicorn), one worker (the local GPU if there is one, else the CPU) and one
prediction server on the embedded defaults — SQLite, a folder as object store, Celery over
SQLite through kombu's SQLAlchemy transport — then, through the API like any client,
creates a demo organization and user with a labeled NEU-DET sample dataset (once), and prints
the URL and the login.
Tokens and links are signed with a random secret made on first start and kept beside the
database. A process that dies (even ``kill -9``) is started again while the other serves on.
Ctrl-C stops both processes. Production runs the same code with other URLs (docker-compose).

    python -m worker.embedded --data ../shared/data/neu-det
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, update

from api.kit.settings import MIN_SECRET_LENGTH, get_settings
from api.kit.tasks import PREDICT_QUEUE
from api.migrate import migrate_database
from api.models.auth import User
from worker.lifetime import die_with_parent

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "hatchery-demo-password"
DEMO_ORGANIZATION, DEMO_PROJECT, DEMO_DATASET = "Demo Steelworks", "Steel surfaces", "neu-det"
MAX_RESTART_PAUSE = 60  # seconds
CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


def _wait_healthy(base: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the API exited with code {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"error: the API did not answer on {base} within {seconds:.0f} s")


def _demo_token(client: httpx.Client) -> tuple[str, bool]:
    """Log the demo user in (signing up first on a fresh database); True when new."""
    login = client.post("/api/v1/auth/login",
                        json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    if login.status_code == 200:
        return login.json()["access_token"], False
    signup = client.post("/api/v1/auth/signup", json={
        "email": DEMO_EMAIL, "password": DEMO_PASSWORD, "organization_name": DEMO_ORGANIZATION,
        "display_name": "Demo"})
    signup.raise_for_status()
    return signup.json()["access_token"], True


def neu_sample(data: Path, per_class: int, offset: int = 0) -> list[Path]:
    """``per_class`` NEU-DET images of each defect class, from the ``offset``-th on."""
    return [path for name in CLASSES
            for path in sorted((data / "IMAGES").glob(f"{name}_*.jpg"))[offset:offset + per_class]]


def voc_labels(images: list[Path], annotations: Path) -> bytes:
    """A zip of the VOC annotation files of ``images`` (the label import's input)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in images:
            xml = annotations / f"{path.stem}.xml"
            if xml.exists():
                archive.writestr(xml.name, xml.read_bytes())
    return out.getvalue()


def _seed(client: httpx.Client, data: Path, per_class: int) -> str:
    """Project, dataset (``per_class`` images of each defect class, VOC labels), version 1."""
    project = client.post("/api/v1/projects", json={"name": DEMO_PROJECT}).raise_for_status()
    dataset = client.post(f"/api/v1/projects/{project.json()['id']}/datasets",
                          json={"name": DEMO_DATASET}).raise_for_status().json()
    images = neu_sample(data, per_class)
    for start in range(0, len(images), 60):
        chunk = images[start:start + 60]
        files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in chunk]
        client.post(f"/api/v1/datasets/{dataset['id']}/items", files=files,
                    timeout=120).raise_for_status()
    labels = voc_labels(images, data / "ANNOTATIONS")
    client.post(f"/api/v1/datasets/{dataset['id']}/labels/import", data={"format": "voc"},
                files={"file": ("labels.zip", labels, "application/zip")},
                timeout=120).raise_for_status()
    client.post(f"/api/v1/datasets/{dataset['id']}/versions",
                json={"note": "demo sample"}).raise_for_status()
    return dataset["id"]


def secret_beside(database_url: str) -> str:
    """The embedded platform's secret key: made at random on first start (or when the file
    kept is too short to be one), kept (readable by this user only) beside the SQLite
    database, the same on every later start."""
    folder = Path(database_url.removeprefix("sqlite:///")).parent \
        if database_url.startswith("sqlite:///") else Path("runs")
    path = folder / "secret_key"
    if path.exists():
        kept = path.read_text().strip()
        if len(kept) >= MIN_SECRET_LENGTH:
            return kept
    folder.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret + "\n")
    os.replace(partial, path)  # whole or not at all: never an empty secret
    return secret


def has_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU (``nvidia-smi -L`` lists one); no torch."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "GPU " in listing


@dataclass
class Service:
    """One process of the platform, started again with growing pauses when it dies."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, preexec_fn=die_with_parent)
        self.started_at, self.restart_at = time.monotonic(), None

    def keep_alive(self) -> None:
        """Notice a death and restart after 1, 2, 4 ... 60 s (a service that ran a minute
        or more starts again at 1 s)."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
                print(f"{self.name} started again (pid {self.process.pid})", flush=True)
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at >= MAX_RESTART_PAUSE:
            self.restarts = 0
        pause = min(MAX_RESTART_PAUSE, 2 ** self.restarts)
        self.restarts += 1
        self.restart_at = now + pause
        print(f"{self.name} exited with code {self.process.returncode}; starting it again in "
              f"{pause} s", flush=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, seconds: float = 30) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()


def embedded_environment(base: str) -> dict[str, str]:
    """The settings every process of the embedded platform shares, from the environment
    plus: its own secret key, its public address, quiet logs, and — on a machine without a
    GPU — no GPU jobs (they would wait for a GPU worker that never comes)."""
    defaults = {"HATCHERY_PUBLIC_URL": base, "HATCHERY_LOG_LEVEL": "WARNING",
                "HATCHERY_GPU_WORKERS": "true" if has_gpu() else "false"}
    env = {**defaults, **os.environ}
    if "HATCHERY_SECRET_KEY" not in env:
        env["HATCHERY_SECRET_KEY"] = secret_beside(
            env.get("HATCHERY_DATABASE_URL", "sqlite:///runs/hatchery.db"))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/neu-det"),
                        help="NEU-DET folder (IMAGES/, ANNOTATIONS/) for the demo dataset")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--per-class", type=int, default=20)
    args = parser.parse_args()
    if not (args.data / "IMAGES").is_dir():
        raise SystemExit(f"error: --data {args.data} has no IMAGES/ folder")

    base = f"http://{args.host}:{args.port}"
    env = embedded_environment(base)
    os.environ.update(env)  # this process's settings too
    settings = get_settings()
    Path("runs").mkdir(exist_ok=True)
    migrate_database(settings.database_url)
    # SIGTERM (e.g. from a service manager) stops the children like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    queues = "gpu.any,cpu" if settings.gpu_workers else "cpu"
    services = [
        Service("the API", [sys.executable, "-m", "uvicorn", "api.main:app", "--host",
                            args.host, "--port", str(args.port), "--log-level", "warning",
                            "--no-access-log"], env),
        Service("the worker", [sys.executable, "-m", "worker", "--queues", queues, "--name",
                               "embedded", "--loglevel", "WARNING", "--quiet"], env),
        Service("the prediction server", [sys.executable, "-m", "worker", "--queues",
                                          PREDICT_QUEUE, "--name", "embedded-predict",
                                          "--loglevel", "WARNING", "--quiet"], env),
    ]
    for service in services:
        service.start()
    try:
        _wait_healthy(base, services[0].process)
        with httpx.Client(base_url=base, timeout=30) as client:
            token, new = _demo_token(client)
            client.headers["Authorization"] = f"Bearer {token}"
            if new:
                print(f"creating the demo dataset from {args.data} ...", flush=True)
                _seed(client, args.data, args.per_class)
        engine = create_engine(settings.database_url)
        with engine.begin() as connection:  # the demo user also sees the admin page
            connection.execute(update(User).where(User.email == DEMO_EMAIL)
                               .values(is_platform_admin=True))
        engine.dispose()
        print(f"\nHatchery runs at {base}  (open it in a browser; API docs: {base}/docs)\n"
              f"login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
              f"one worker is listening (queues {queues.replace(',', ', ')}) and one "
              "prediction server; a process that dies is started again; Ctrl-C stops "
              "everything\n", flush=True)
        while True:
            for service in services:
                service.keep_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for service in services:
            service.stop()
        for service in services:
            service.wait()


if __name__ == "__main__":
    main()
