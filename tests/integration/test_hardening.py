"""Findings of the new-user and attacker probe (issue 13's minors and frictions), each pinned:
the same answer on Postgres and SQLite, names kept or refused (never rewritten), clear
reasons, labels from class folders and CSV, downloads from a job, offline API docs."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from api.models.datasets import Blob
from api.models.jobs import Job, JobStatus
from tests.integration.conftest import make_api, production_settings
from tests.integration.helpers import (
    TWO_IMAGE_PRETRAIN,
    fetch,
    multipart,
    neu_images,
    setup_dataset,
    zip_bytes,
)


def test_nul_and_nan_are_refused_the_same_way_on_both_databases(any_api):
    member = any_api.signup()
    project, dataset = setup_dataset(member)
    nul = member.post("/api/v1/projects", json={"name": "line\u00003"})
    assert nul.status_code == 422 and nul.json()["detail"].startswith("name: text must not")
    item = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items",
                     files=multipart(neu_images(1)))["files"][0]
    box = {"type": "box", "class_name": "pit", "x": 1, "y": 1, "width": 2, "height": 2}
    nan = member.put(f"/api/v1/datasets/{dataset['id']}/items/{item['item_id']}/labels",
                      content=b'{"annotations": [{"type": "box", "class_name": "pit", "x": 1,'
                              b' "y": NaN, "width": 2, "height": 2}]}',
                      headers={"Content-Type": "application/json"})
    assert nan.status_code == 422 and nan.json()["errors"][0]["field"] == "annotations.0.y"
    member.ok("PUT", f"/api/v1/datasets/{dataset['id']}/items/{item['item_id']}/labels",
              json={"annotations": [box]})
    job = member.post(f"/api/v1/projects/{project['id']}/jobs",
                      json={"kind": "probe", "name": "nul\u0000name", "gpus": 0})
    assert job.status_code == 422 and job.json()["errors"][0]["field"] == "name"


def test_upload_names_are_kept_or_refused_never_rewritten(any_api):
    member = any_api.signup()
    _, dataset = setup_dataset(member)
    first, second, third = (path.read_bytes() for path in neu_images(3, offset=70))
    long_name = "x" * 1001 + ".jpg"
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=[
        ("files", (name, data, "image/jpeg")) for name, data in [
            ("a/b.jpg", first), ("a//b.jpg", second), ("gnp\u202e.exe", third),
            (long_name, third), ("./c.jpg", third)]])
    verdicts = [(f["status"], f["detail"]) for f in report["files"]]
    assert verdicts[0] == ("added", "")
    assert verdicts[1] == ("rejected", "not a plain relative path: did you mean a/b.jpg?")
    assert verdicts[2][0] == "rejected" and "U+202E" in verdicts[2][1]
    assert verdicts[3] == ("rejected", "the name is longer than 1000 characters")
    assert report["files"][4]["path"] == "c.jpg" and verdicts[4][0] == "added"
    listed = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items")["items"]
    assert {item["path"]: item["sha256"] for item in listed}["a/b.jpg"] == \
        report["files"][0]["sha256"]  # not replaced by a//b.jpg


def test_bad_files_and_archives_get_plain_reasons(any_api):
    member = any_api.signup()
    _, dataset = setup_dataset(member)
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=[
        ("files", ("notes.jpg", b"just some text, not an image", "image/jpeg"))])
    detail = report["files"][0]["detail"]
    assert detail == "not a readable image: the content is none of BMP, JPEG, PNG, TIFF"
    whole = zip_bytes({f"p{i}.jpg": path.read_bytes()
                       for i, path in enumerate(neu_images(3, offset=80))})
    truncated = member.post(f"/api/v1/datasets/{dataset['id']}/archives", files={
        "file": ("parts.zip", whole[:len(whole) // 2], "application/zip")})
    assert truncated.status_code == 422
    assert "looks like a zip archive but is damaged or truncated" in truncated.json()["detail"]


def test_class_folders_and_csv_label_images(any_api):
    member = any_api.signup()
    _, dataset = setup_dataset(member)
    images = [path.read_bytes() for path in neu_images(4, offset=90)]
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/archives", files={
        "file": ("parts.zip", zip_bytes({"scratch/1.jpg": images[0], "scratch/2.jpg": images[1],
                                         "good/3.jpg": images[2], "loose.jpg": images[3]}),
                 "application/zip")}, data={"labels": "folders"})
    assert report["added"] == 4
    assert report["labels"]["matched"] == 3 and report["labels"]["classes"] == ["good",
                                                                                "scratch"]
    csv_file = (b"path,class_name,is_defect,split\n"
                b"loose.jpg,pit,yes,test\n"
                b"good/3.jpg,,no,train\n")
    imported = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
                         files={"file": ("labels.csv", csv_file, "text/csv")},
                         data={"format": "csv"})
    assert imported["matched"] == 2 and imported["unmatched"] == []
    items = {item["path"]: item for item in member.ok(
        "GET", f"/api/v1/datasets/{dataset['id']}/items")["items"]}
    assert (items["loose.jpg"]["class_name"], items["loose.jpg"]["is_defect"],
            items["loose.jpg"]["split"]) == ("pit", True, "test")
    assert (items["good/3.jpg"]["class_name"], items["good/3.jpg"]["is_defect"]) == ("good",
                                                                                    False)
    assert items["scratch/1.jpg"]["class_name"] == "scratch"
    slash = member.post(f"/api/v1/datasets/{dataset['id']}/labels/import",
                        files={"file": ("labels.csv", b"path,class_name\nloose.jpg,a/b\n",
                                        "text/csv")}, data={"format": "csv"})
    assert slash.status_code == 422 and "holds no slash" in slash.json()["detail"]
    bad = member.post(f"/api/v1/datasets/{dataset['id']}/labels/import",
                      files={"file": ("labels.csv", b"path,is_defect\na.jpg,maybe\n",
                                      "text/csv")}, data={"format": "csv"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "labels.csv line 2: is_defect must be true or false, " \
                                   "not 'maybe'"


def submitted(member, kind: str, config: dict) -> dict:
    """A ``kind`` job of a new project on a version of two images."""
    project, dataset = setup_dataset(member)
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(neu_images(2)))
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    return member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": kind, "inputs": {"dataset_version_id": version["id"]}, "config": config})


def test_a_jobs_artifacts_download_from_the_job_with_their_content_type(any_api):
    member = any_api.signup()
    job = submitted(member, "pretrain", TWO_IMAGE_PRETRAIN)
    key = f"{member.organization_id}/jobs/{job['id']}/checkpoint-00000001.pt"
    any_api.store.put_bytes(key, b"weights", "application/octet-stream")
    with any_api.session() as session:
        row = session.get(Job, uuid.UUID(job["id"]))
        row.status, row.artifacts = JobStatus.succeeded, {"checkpoint": {"key": key,
                                                                          "bytes": 7}}
        row.artifact_bytes = 7
        session.commit()
    url = member.ok("GET", f"/api/v1/jobs/{job['id']}/artifacts/checkpoint")["url"]
    download = fetch(member, url)
    assert download.content == b"weights"
    assert download.headers["content-type"] == "application/octet-stream"
    missing = member.get(f"/api/v1/jobs/{job['id']}/artifacts/model")
    assert missing.status_code == 404 and "it has checkpoint" in missing.json()["detail"]
    usage = member.ok("GET", "/api/v1/organization/usage")
    with any_api.session() as session:
        images = sum(blob.size for blob in session.scalars(
            select(Blob).where(Blob.organization_id == uuid.UUID(member.organization_id))))
    assert usage["storage_bytes"] == images + 7  # the images and the checkpoint


def test_docs_work_offline_and_job_kinds_need_a_login(any_api):
    page = any_api.client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assert any_api.client.get("/static/api-docs/swagger-ui-bundle.js").status_code == 200
    assert any_api.client.get("/api/v1/job-kinds").status_code == 401
    member = any_api.signup()
    assert "pretrain" in member.ok("GET", "/api/v1/job-kinds")


@pytest.mark.parametrize("token", [None, "scrape-me-please-with-a-long-token"])
def test_metrics_need_their_token_in_production(postgres_url, s3_server, token):
    settings = production_settings(postgres_url, s3_server).model_copy(update={
        "environment": "production", "secret_key": SecretStr("x" * 40),
        "metrics_token": SecretStr(token) if token else None})
    for api in make_api(settings):
        assert api.client.get("/metrics").status_code == (404 if token is None else 401)
        latin = "Bearer caf\xe9".encode("latin-1")  # a header no ASCII token can equal
        odd = api.client.get("/metrics", headers={"Authorization": latin})
        assert odd.status_code == (404 if token is None else 401)  # not a 500
        if token:
            scraped = api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert scraped.status_code == 200 and "hatchery_http_requests_total" in scraped.text


def test_a_pipelines_log_is_its_stages_logs(any_api):
    member = any_api.signup()
    pipeline = submitted(member, "pipeline", {"pretrain": TWO_IMAGE_PRETRAIN})
    with any_api.session() as session:
        parent = session.get(Job, uuid.UUID(pipeline["id"]))
        stage = Job(organization_id=parent.organization_id, project_id=parent.project_id,
                    kind="pretrain", config={}, parent_id=parent.id, queue="gpu.any")
        session.add(stage)
        session.commit()
        stage_id = stage.id
    any_api.store.put_bytes(f"{member.organization_id}/jobs/{stage_id}/log.txt",
                            b"step 1 loss 5.2\n", "text/plain")
    log = member.get(f"/api/v1/jobs/{pipeline['id']}/logs").text
    assert log == f"===== stage pretrain (job {stage_id}, queued)\nstep 1 loss 5.2\n"
