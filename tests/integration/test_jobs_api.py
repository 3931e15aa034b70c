"""Jobs through the API: submit, list, cancel, retry, progress events, metrics, live stream."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import select

from api.jobs.events import add_event
from api.models.jobs import Job, JobStatus
from tests.integration.helpers import multipart, neu_images, setup_dataset


def submitted_job(member) -> tuple[dict, dict]:
    project, dataset = setup_dataset(member)
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(neu_images(8)))
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "name": "first", "priority": 3,
        "inputs": {"dataset_version_id": version["id"]},
        "config": {"steps": 4, "batch_size": 8}})
    return project, job


def as_worker(api, job_id: str, change) -> None:
    with api.session() as session:
        job = session.scalar(select(Job).where(Job.id == uuid.UUID(job_id)))
        change(session, job)
        session.commit()


def test_cancel_retry_and_listing(api):
    member = api.signup()
    project, job = submitted_job(member)
    assert api.dispatcher.sent[-1][1:] == ("gpu.any", 3)
    cancelled = member.ok("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"]
    assert member.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 409
    retried = member.ok("POST", f"/api/v1/jobs/{job['id']}/retry")
    assert retried["status"] == "queued" and not retried["cancel_requested"]
    assert len(api.dispatcher.sent) == 2
    listing = member.ok("GET", f"/api/v1/projects/{project['id']}/jobs",
                        params={"status": "queued"})
    assert [j["id"] for j in listing["items"]] == [job["id"]]
    statuses = [e["data"]["status"] for e in
                member.ok("GET", f"/api/v1/jobs/{job['id']}/events", params={"kind": "status"})]
    assert statuses == ["queued", "cancelled", "queued"]
    kinds = member.ok("GET", "/api/v1/job-kinds")
    assert set(kinds) >= {"pretrain", "evaluate"}
    assert "properties" in kinds["pretrain"]["config_schema"]


def test_running_job_is_cancelled_by_flag(api):
    member = api.signup()
    _, job = submitted_job(member)
    as_worker(api, job["id"], lambda s, j: setattr(j, "status", JobStatus.running))
    flagged = member.ok("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert flagged["status"] == "running" and flagged["cancel_requested"]


def test_metrics_series_and_live_stream(api):
    member = api.signup()
    _, job = submitted_job(member)

    def run(session, row):
        row.status = JobStatus.running
        for step in (1, 2, 3):
            add_event(session, row, "progress", {"loss": 10.0 - step, "lr": 0.1 * step},
                      step=step)
        add_event(session, row, "metrics", {"knn": {"k=20": {"balanced_accuracy": 0.8}}},
                  step=3)
        row.progress = {"step": 3, "total_steps": 4, "loss": 7.0}

    as_worker(api, job["id"], run)
    series = member.ok("GET", f"/api/v1/jobs/{job['id']}/metrics")["series"]
    assert series["loss"] == [[1, 9.0], [2, 8.0], [3, 7.0]]
    assert series["knn.k=20.balanced_accuracy"] == [[3, 0.8]]

    def finish_later() -> None:
        time.sleep(1.0)
        as_worker(api, job["id"], lambda s, j: setattr(j, "status", JobStatus.succeeded))

    threading.Thread(target=finish_later).start()
    with member.api.client.stream("GET", f"/api/v1/jobs/{job['id']}/stream",
                                  headers=member.headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    assert text.index("event: status") < text.index("event: progress")
    assert '"status": "succeeded"' in text and text.rstrip().endswith("data: {}")


def test_jobs_listed_by_the_model_they_read(any_api):
    """``model_job_id`` lists the jobs that read one job's model (its exports, its
    predictions), and only those."""
    member = any_api.signup()
    project, first = submitted_job(member)
    second = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": first["inputs"][
            "dataset_version_id"]}, "config": {"steps": 4, "batch_size": 8}})

    def trained_a_model(session, row):  # as a finetune that left its model directory
        row.kind, row.status = "finetune", JobStatus.succeeded
        row.artifacts = {"model": {"key": f"{row.organization_id}/jobs/{row.id}/model.tar"}}

    for job in (first, second):
        as_worker(any_api, job["id"], trained_a_model)

    def export(model: dict, format: str) -> dict:
        return member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
            "kind": "export", "gpus": 0, "inputs": {"model_job_id": model["id"]},
            "config": {"format": format}})

    onnx, script, other = export(first, "onnx"), export(first, "torchscript"), export(
        second, "onnx")

    def listed(**params) -> list[str]:
        return [job["id"] for job in member.ok(
            "GET", f"/api/v1/projects/{project['id']}/jobs", params=params)["items"]]

    assert listed(kind="export", model_job_id=first["id"]) == [script["id"], onnx["id"]]
    assert listed(model_job_id=second["id"]) == [other["id"]]
    assert listed(kind="predict", model_job_id=first["id"]) == []
    assert listed(model_job_id=str(uuid.uuid4())) == []
    refused = member.get(f"/api/v1/projects/{project['id']}/jobs",
                         params={"model_job_id": "not-an-id"})
    assert refused.status_code == 422, refused.text
