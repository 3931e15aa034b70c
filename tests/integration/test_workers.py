"""Jobs on real Celery worker processes: Postgres + SeaweedFS + Redis, and embedded mode.

Each scenario goes through the API as a user would; the workers are `python -m worker`
processes, killed, restarted and cancelled as in production.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from api.kit.tasks import RUN_JOB_TASK
from api.migrate import migrate_database
from api.models.auth import User
from api.models.jobs import JobStatus
from tests.integration.conftest import Member, production_settings
from tests.integration.deployments import (
    FAST_LEASES,
    JOB_TIMEOUT,
    Deployment,
    deploy,
    embedded_deployment,
)
from tests.integration.helpers import NEU, multipart, setup_dataset
from tests.integration.servers import postgres_database
from tests.integration.workers import (
    RedisServer,
    WorkerProcess,
    redis_server,
    wait_for,
)
from worker.embedded import neu_sample, voc_labels


def tiny_pretrain(steps: int, checkpoint_every: int = 5) -> dict:
    return {"backbone": {"name": "resnet18", "small_input": True}, "data": {"image_size": 32},
            "batch_size": 16, "steps": steps,
            "runtime": {"device": "cpu", "log_every": 1, "checkpoint_every": checkpoint_every}}


@pytest.fixture(scope="module")
def worker_postgres_url() -> Iterator[str]:
    """A database of their own: workers claim any queued job, so no other test's may wait."""
    with postgres_database() as url:
        migrate_database(url)
        yield url


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def production(worker_postgres_url, s3_server, redis, tmp_path) -> Iterator[Deployment]:
    """Postgres + SeaweedFS + Redis, as docker-compose deploys it."""
    settings = production_settings(worker_postgres_url, s3_server, broker_url=redis.url,
                                   **FAST_LEASES)
    yield from deploy(settings, tmp_path, redis)


@pytest.fixture
def embedded(tmp_path) -> Iterator[Deployment]:
    yield from embedded_deployment(tmp_path)


def _upload_version(member: Member, dataset: dict, images: list[Path], labels: bool) -> dict:
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(images))
    if labels:
        member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
                  files={"file": ("voc.zip", voc_labels(images, NEU / "ANNOTATIONS"),
                                  "application/zip")},
                  data={"format": "voc"})
    return member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})


def _pretrain_setup(member: Member, per_class: int = 6) -> tuple[dict, dict]:
    project, dataset = setup_dataset(member, f"parts-{uuid.uuid4().hex[:6]}")
    return project, _upload_version(member, dataset, neu_sample(NEU, per_class), labels=False)


# ----------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("deployment", ["production", "embedded"])
def test_pipeline_pretrains_evaluates_and_registers_a_model(deployment, request):
    deployment = request.getfixturevalue(deployment)
    member = deployment.api.signup()
    project, unlabeled = _pretrain_setup(member)
    _, train_set = setup_dataset(member, "train")
    _, test_set = setup_dataset(member, "test")
    train = _upload_version(member, train_set, neu_sample(NEU, 4, offset=10), labels=True)
    test = _upload_version(member, test_set, neu_sample(NEU, 2, offset=20), labels=True)
    deployment.workers.start("w1")

    pipeline = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pipeline", "name": "first model",
        "inputs": {"dataset_version_id": unlabeled["id"], "train_version_id": train["id"],
                   "test_version_id": test["id"]},
        "config": {"pretrain": tiny_pretrain(steps=6), "evaluate": {"k": [5]},
                   "model_name": "castings backbone"}})
    done = deployment.wait_status(member, pipeline["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", deployment.workers.logs()

    stages = member.ok("GET", f"/api/v1/projects/{project['id']}/jobs",
                       params={"kind": "pretrain"})["items"]
    pretrain = next(job for job in stages if job["parent_id"] == pipeline["id"])
    assert pretrain["status"] == "succeeded" and pretrain["attempts"] == 1
    for artifact in ("checkpoint", "config", "metrics"):
        assert deployment.api.store.exists(pretrain["artifacts"][artifact]["key"])
    assert "--- attempt 1 on w1@" in member.get(f"/api/v1/jobs/{pretrain['id']}/logs").text
    steps = [e.step for e in deployment.events(pretrain["id"], "progress")]
    assert steps == list(range(1, 7))

    # The pipeline shows its stage's progress, the stage named.
    assert (done["progress"]["stage"], done["progress"]["stage_number"],
            done["progress"]["stages"]) == ("evaluate", 2, 2)
    version = member.ok("GET", f"/api/v1/model-versions/{done['result']['model_version_id']}")
    assert version["job_id"] == pretrain["id"]
    assert 0 <= version["metrics"]["knn.k=5.balanced_accuracy"] <= 1
    assert version["artifacts"]["checkpoint"] == pretrain["artifacts"]["checkpoint"]["key"]

    # A second job on the same data finds it in the worker's cache: nothing downloaded.
    again = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": unlabeled["id"]},
        "config": tiny_pretrain(steps=2)})
    assert deployment.wait_status(member, again["id"], "succeeded", "failed")["status"] == \
        "succeeded"
    first_log, second_log = (
        [e.data["message"] for e in deployment.events(job_id, "log")
         if "dataset version" in e.data.get("message", "")]
        for job_id in (pretrain["id"], again["id"]))
    assert "36 images, 36 downloaded" in first_log[0]
    assert "36 images, 0 downloaded" in second_log[0]


def _make_platform_admin(deployment: Deployment, member: Member) -> None:
    with deployment.api.session() as session:
        user = session.scalar(select(User).where(User.email == member.email))
        user.is_platform_admin = True
        session.commit()


def _checkpointed_on(production: Deployment, worker: str, step: int
                     ) -> tuple[Member, dict, WorkerProcess]:
    """A member's 40-step pretrain on a new worker, once it has a checkpoint at ``step`` or
    later: (member, job, worker)."""
    member = production.api.signup()
    project, version = _pretrain_setup(member)
    process = production.workers.start(worker)
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": tiny_pretrain(steps=40, checkpoint_every=4)})

    def checkpointed() -> int:
        saved = production.job(job["id"]).artifacts.get("checkpoint")
        return saved["step"] if saved and saved["step"] >= step else 0

    wait_for(checkpointed, JOB_TIMEOUT, f"a checkpoint at step >= {step}",
             production.workers.logs)
    return member, job, process


def test_kill_9_mid_job_resumes_from_checkpoint_on_a_new_worker(production):
    member, job, first = _checkpointed_on(production, "first", step=8)
    # The admin page sees the worker busy with the job, on its CPU.
    admin = production.api.signup("Platform")
    _make_platform_admin(production, admin)
    workers = admin.ok("GET", "/api/v1/admin/workers")
    busy = next(w for w in workers if w["name"].startswith("first@"))
    assert busy["current_job_id"] == job["id"] and busy["online"]
    assert busy["devices"][0]["memory_total_bytes"] > 0
    queues = {row["queue"]: row for row in admin.ok("GET", "/api/v1/admin/queues")}
    assert queues["gpu.any"]["running"] >= 1
    assert member.get("/api/v1/admin/workers").status_code == 403  # platform admins only
    first.kill()
    wait_for(lambda: subprocess.run(["pgrep", "-f", f"worker.child {job['id']}"])
             .returncode == 1, 30, "the job's process to die with its worker")

    production.workers.start("second")
    done = production.wait_status(member, job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded" and done["attempts"] == 2, production.workers.logs()
    log = member.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert "attempt 1 on first@" in log and "attempt 2 on second@" in log
    resumed = [e.data["message"] for e in production.events(job["id"], "log")
               if e.data.get("message", "").startswith("resuming from step")]
    assert resumed and int(resumed[0].split()[-1]) >= 8
    # The loss curve continues: every step reported once, in order, across both attempts.
    steps = [e.step for e in production.events(job["id"], "progress")]
    assert sorted(steps) == list(range(1, 41))
    statuses = [e.data["status"] for e in production.events(job["id"], "status")]
    assert statuses == ["queued", "running", "queued", "running", "succeeded"]
    # The worker adds the GPU time once the job's process has exited, just after the job
    # shows succeeded: wait for it rather than race it.
    wait_for(lambda: any(row["organization_id"] == member.organization_id
                         and row["gpu_hours_this_month"] > 0
                         for row in admin.ok("GET", "/api/v1/admin/usage")),
             30, "the job's GPU time in the admin usage")


def test_a_graceful_stop_hands_the_job_back_without_spending_an_attempt(production):
    member, job, first = _checkpointed_on(production, "first", step=4)
    first.stop()  # SIGTERM: checkpoint, hand the job back, claim nothing more, exit
    assert production.job(job["id"]).status == JobStatus.queued
    assert production.job(job["id"]).attempts == 0
    production.workers.start("second")
    done = production.wait_status(member, job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded" and done["attempts"] == 1, production.workers.logs()


def test_cancel_mid_job_stops_it_and_frees_the_worker(production):
    member = production.api.signup()
    project, version = _pretrain_setup(member)
    production.workers.start("w1")
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": tiny_pretrain(steps=100_000, checkpoint_every=50)})
    wait_for(lambda: production.events(job["id"], "progress"), JOB_TIMEOUT,
             "the first progress report", production.workers.logs)
    member.ok("POST", f"/api/v1/jobs/{job['id']}/cancel")
    done = production.wait_status(member, job["id"], "cancelled", "failed", "succeeded")
    assert done["status"] == "cancelled"
    wait_for(lambda: subprocess.run(["pgrep", "-f", f"worker.child {job['id']}"])
             .returncode == 1, 30, "the job's process to end")
    # The worker is free again: the next job runs.
    probe = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201,
                      json={"kind": "probe", "gpus": 0})
    assert production.wait_status(member, probe["id"], "succeeded", "failed")["status"] == \
        "succeeded"


def test_a_message_delivered_twice_runs_the_job_once(production):
    member = production.api.signup()
    project, _ = setup_dataset(member, "dup")
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201,
                    json={"kind": "probe", "gpus": 0, "config": {"seconds": 1.0}})
    dispatcher = production.api.dispatcher
    for _ in range(3):  # the same message again, as a redelivery would bring it
        dispatcher.app.send_task(RUN_JOB_TASK, args=[job["id"]], queue="cpu")
    production.workers.start("w1")
    production.workers.start("w2")
    done = production.wait_status(member, job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded" and done["attempts"] == 1
    running = [e for e in production.events(job["id"], "status") if e.data["status"] == "running"]
    assert len(running) == 1


def test_a_redis_restart_during_a_job_loses_nothing(production):
    member = production.api.signup()
    project, version = _pretrain_setup(member)
    production.workers.start("w1")
    running = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": tiny_pretrain(steps=25)})
    wait_for(lambda: production.events(running["id"], "progress"), JOB_TIMEOUT,
             "the first progress report", production.workers.logs)
    waiting = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201,
                        json={"kind": "probe", "gpus": 0})
    production.redis.restart()  # the waiting job's message is gone with it
    for job in (running, waiting):
        done = production.wait_status(member, job["id"], "succeeded", "failed")
        assert done["status"] == "succeeded", production.workers.logs()
    assert production.job(running["id"]).attempts == 1


def test_a_job_asking_two_gpus_runs_under_torchrun_one_process_each(production):
    """The multi-GPU path on this CPU machine: torchrun starts two ranks that train with DDP
    over gloo; rank 0 alone reports and records the outcome."""
    member = production.api.signup()
    project, version = _pretrain_setup(member)
    production.workers.start("w1", queues="gpu.any.x2")
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "gpus": 2, "inputs": {"dataset_version_id": version["id"]},
        "config": tiny_pretrain(steps=4)})
    assert job["queue"] == "gpu.any.x2"
    done = production.wait_status(member, job["id"], "succeeded", "failed")
    assert done["status"] == "succeeded", production.workers.logs()
    assert [e.step for e in production.events(job["id"], "progress")] == [1, 2, 3, 4]
    # Rank 0 records the outcome before the processes exit; the worker uploads the log's last
    # lines right after they do, so the complete log may follow the status by a moment.
    def log_of_both_ranks() -> str | None:
        text = member.get(f"/api/v1/jobs/{job['id']}/logs").text
        return text if text.count("(pretrain) starts in process") >= 2 else None

    log = wait_for(log_of_both_ranks, 30, "the log of both ranks", production.workers.logs)
    assert log.count("(pretrain) starts in process") == 2  # one line per rank
    config = production.api.store.get_bytes(done["artifacts"]["config"]["key"]).decode()
    assert "batch_size: 16" in config
