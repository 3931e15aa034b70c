"""``make run``: the whole platform on one machine, nothing to install or start by hand.

Starts the API (uvicorn) and one worker (the local GPU if there is one, else the CPU) on the
embedded defaults — SQLite, a folder as object store, Celery over SQLite through kombu's
SQLAlchemy transport — then, through the API like any client, creates a demo organization
and user with a labeled NEU-DET sample dataset (once), and prints the URL and the login.
Ctrl-C stops both processes. Production runs the same code with other URLs (docker-compose).

    python -m worker.embedded --data ../shared/data/neu-det
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
from sqlalchemy import create_engine, update

from api.auth.models import User
from api.migrate import migrate_database
from api.settings import get_settings
from worker.lifetime import die_with_parent

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "hatchery-demo-password"
DEMO_ORGANIZATION, DEMO_PROJECT, DEMO_DATASET = "Demo Steelworks", "Steel surfaces", "neu-det"
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

    settings = get_settings()
    Path("runs").mkdir(exist_ok=True)
    migrate_database(settings.database_url)
    base = f"http://{args.host}:{args.port}"
    # SIGTERM (e.g. from a service manager) stops the children like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = {**os.environ, "HATCHERY_PUBLIC_URL": base}
    processes = [
        subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", args.host,
                          "--port", str(args.port), "--log-level", "warning"], env=env,
                         preexec_fn=die_with_parent),
        subprocess.Popen([sys.executable, "-m", "worker", "--queues", "gpu.any,cpu", "--name",
                          "embedded", "--loglevel", "WARNING"], env=env,
                         preexec_fn=die_with_parent),
    ]
    try:
        _wait_healthy(base, processes[0])
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
        print(f"\nHatchery runs at {base}  (API docs: {base}/docs)\n"
              f"login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
              "one worker is listening (queues gpu.any, cpu); Ctrl-C stops everything\n",
              flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(1)
        raise SystemExit("error: the API or the worker exited; see the output above")
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
