"""Runs one claimed job in a fresh child process and watches it until it ends.

The child (``python -m worker.child``; under ``torchrun`` for a multi-GPU job) does the work
and records the outcome. The supervisor, in the worker process, keeps the job's lease alive
with heartbeats, ships the job's log to the object store, and acts when the child cannot:

- cancel requested and the child still alive after the grace period: the whole process group
  is killed, so the GPU is free within ``cancel_grace_seconds`` + a second;
- lease lost (another worker re-queued the job after a missed heartbeat): killed at once;
- worker shutting down (SIGTERM): the child gets SIGTERM, checkpoints and hands the job back
  to the queue;
- child died without recording an outcome: the job fails with its exit code and log tail.

The child dies with the worker (``PR_SET_PDEATHSIG``, set by the child itself: see
worker/lifetime.py), so a worker killed with ``kill -9`` leaves nothing running; its lease
lapses and another worker resumes the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.kit.db import session_scope, utcnow
from api.kit.settings import Settings
from api.kit.storage import ObjectStore
from api.models.jobs import Job, JobStatus
from engine.schemas.kinds import KINDS
from worker.scheduler import Claim, release, renew_lease

log = logging.getLogger("hatchery.worker.supervisor")
POLL_SECONDS = 0.1
LOG_UPLOAD_SECONDS = 10.0


def child_command(job_id: uuid.UUID, owner: str, gpus: int, kind: str) -> list[str]:
    """One process, or one per GPU under torchrun for a distributed kind on several GPUs."""
    entry = ["-m", "worker.child", str(job_id), owner]
    if KINDS[kind].distributed and gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={gpus}", *entry]
    return [sys.executable, *entry]


class BackgroundOnce:
    """Runs one call at a time on a thread; a new call while one runs is skipped."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, call) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=call, daemon=True)
            self._thread.start()

    def wait(self, seconds: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(seconds)


@dataclass
class JobRow:
    organization_id: uuid.UUID
    kind: str
    queue: str
    gpus: int
    parent_id: uuid.UUID | None


class Supervisor:
    def __init__(self, settings: Settings, factory: sessionmaker[Session], store: ObjectStore,
                 owner: str, shutting_down: threading.Event) -> None:
        self.settings = settings
        self.factory = factory
        self.store = store
        self.owner = owner
        self.shutting_down = shutting_down
        # the log goes up beside the heartbeats, never in their way (a slow store)
        self._log_uploader = BackgroundOnce()

    def run(self, claim: Claim) -> tuple[JobStatus, JobRow]:
        with session_scope(self.factory) as session:
            job = session.get(Job, claim.job_id)
            row = JobRow(job.organization_id, job.kind, job.queue, job.gpus, job.parent_id)
        work_dir = Path(self.settings.worker_work_dir) / str(claim.job_id)
        work_dir.mkdir(parents=True, exist_ok=True)
        log_key = f"{row.organization_id}/jobs/{claim.job_id}/log.txt"
        started = time.monotonic()
        process: subprocess.Popen | None = None
        try:
            log_path = self._open_log(work_dir, log_key, claim)
            with log_path.open("ab") as log_file:
                process = subprocess.Popen(
                    child_command(claim.job_id, self.owner, row.gpus, row.kind),
                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
                ending = self._watch(process, claim.job_id, log_path, log_key)
            self._log_uploader.wait()
            self._upload_log(log_path, log_key)
            status = self._settle(claim, row, process.returncode, ending, log_path)
            self._account(claim.job_id, row, time.monotonic() - started)
        finally:
            if process is not None and process.poll() is None:  # never leave it unwatched
                self._kill(process)
            shutil.rmtree(work_dir, ignore_errors=True)
        return status, row

    # ------------------------------------------------------------------------------ watch
    def _watch(self, process: subprocess.Popen, job_id: uuid.UUID, log_path: Path,
               log_key: str) -> str:
        """Wait for the child; returns why it ended: exited, cancelled, lease-lost, shutdown.

        A database that does not answer is waited out while the lease still runs; the child
        is stopped only once the lease has lapsed, when another worker may take the job.
        """
        next_beat = next_log = renewed = time.monotonic()
        cancel_seen: float | None = None
        ending = "exited"
        terminated = False
        while process.poll() is None:
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + min(self.settings.heartbeat_seconds, 1.0)
                try:
                    beat = renew_lease(self.factory, job_id, self.owner,
                                       self.settings.lease_seconds)
                    held, cancelled = beat is not None, bool(beat and beat.cancel_requested)
                except SQLAlchemyError:
                    log.exception("job %s: heartbeat failed", job_id)
                    held = now - renewed < self.settings.lease_seconds
                    cancelled = False
                else:
                    renewed = now if held else renewed
                if not held:
                    if self._exits_soon(process):  # it recorded its outcome and is leaving
                        break
                    log.warning("job %s: lease lost; stopping its process", job_id)
                    self._kill(process)
                    return "lease-lost"
                if cancelled and cancel_seen is None:
                    cancel_seen = now
                    ending = "cancelled"
            if cancel_seen is not None and now - cancel_seen > self.settings.cancel_grace_seconds:
                log.warning("job %s: still running %.0f s after cancel; killing it", job_id,
                            now - cancel_seen)
                self._kill(process)
                break
            if self.shutting_down.is_set() and not terminated:
                os.killpg(process.pid, signal.SIGTERM)  # checkpoint, then back to the queue
                terminated, ending = True, "shutdown"
            if now >= next_log:
                next_log = now + LOG_UPLOAD_SECONDS
                self._log_uploader.start(lambda: self._upload_log(log_path, log_key))
            time.sleep(POLL_SECONDS)
        process.wait()
        return ending

    @staticmethod
    def _exits_soon(process: subprocess.Popen, seconds: float = 5.0) -> bool:
        try:
            process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    # ------------------------------------------------------------------------------- logs
    def _open_log(self, work_dir: Path, key: str, claim: Claim) -> Path:
        """The job's log so far (earlier attempts included), with this attempt's header."""
        path = work_dir / "log.txt"
        earlier = self.store.get_bytes(key) if self.store.exists(key) else b""
        header = (f"--- attempt {claim.attempt} on {self.owner} at "
                  f"{utcnow().isoformat(timespec='seconds')} ---\n").encode()
        path.write_bytes(earlier + header)
        return path

    def _upload_log(self, path: Path, key: str) -> None:
        try:
            self.store.put_bytes(key, path.read_bytes(), "text/plain; charset=utf-8")
        except Exception:  # the log is best effort; the job's state is not
            log.exception("could not upload %s", key)

    # ----------------------------------------------------------------------------- settle
    def _settle(self, claim: Claim, row: JobRow, returncode: int, ending: str,
                log_path: Path) -> JobStatus:
        """The job's status after its process ended; records an outcome the child could not."""
        if ending == "lease-lost":  # whoever holds the job now (or its end) decides
            return self._status_now(claim.job_id)
        if ending == "cancelled":
            status, error = JobStatus.cancelled, ""
        elif ending == "shutdown":  # handed back unfinished: not an attempt that failed
            status, error = JobStatus.queued, ""
        else:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            status = JobStatus.failed
            error = f"the job's process exited with code {returncode}\n" + "\n".join(tail)
        given_back = {"attempts": Job.attempts - 1} if ending == "shutdown" else {}
        if release(self.factory, claim.job_id, row.organization_id, self.owner, status,
                   {"exit_code": returncode}, error=error[-4000:], **given_back):
            return status
        return self._status_now(claim.job_id)

    def _status_now(self, job_id: uuid.UUID) -> JobStatus:
        """The job's status as recorded (``failed`` if the job was deleted meanwhile)."""
        with session_scope(self.factory) as session:
            return session.scalar(select(Job.status).where(Job.id == job_id)) or JobStatus.failed

    def _account(self, job_id: uuid.UUID, row: JobRow, seconds: float) -> None:
        if not row.queue.startswith("gpu."):
            return
        with session_scope(self.factory) as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(gpu_seconds=Job.gpu_seconds + seconds * max(1, row.gpus)))
