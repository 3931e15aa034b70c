"""Archives, presigned uploads, label import and every kind of bad input."""

from __future__ import annotations

import io
import tarfile
import zipfile

import httpx
import pytest
from sqlalchemy import select

from api.models.datasets import Blob, DatasetItem
from api.models.tenants import Organization
from tests.conftest import SHARED_DATA
from tests.integration.helpers import (
    TWO_IMAGE_PRETRAIN,
    fetch,
    multipart,
    neu_images,
    png_bytes,
    setup_dataset,
    zip_bytes,
)


def objects(api, member) -> list[str]:
    return sorted(o.key for o in api.store.list(f"{member.organization_id}/"))


def test_archive_entries_are_checked_one_by_one(api):
    member = api.signup()
    _, dataset = setup_dataset(member)
    good = neu_images(2)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("parts/a.jpg", good[0].read_bytes())
        zipped.writestr("../escape.jpg", good[1].read_bytes())
        zipped.writestr("/etc/absolute.jpg", good[1].read_bytes())
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = 0o120777 << 16
        zipped.writestr(link, "/etc/passwd")
        zipped.writestr("bomb.png", b"\0" * (40 * 1024 * 1024))  # ratio ~1000:1
        zipped.writestr("readme.txt", b"hello")
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/archives",
                       files={"file": ("batch.zip", archive.getvalue(), "application/zip")})
    verdicts = {f["path"]: (f["status"], f["detail"]) for f in report["files"]}
    assert verdicts["parts/a.jpg"][0] == "added"
    assert "unsafe path" in verdicts["../escape.jpg"][1]
    assert "unsafe path" in verdicts["/etc/absolute.jpg"][1]
    assert verdicts["link.jpg"] == ("rejected", "symbolic link")
    assert "zip bomb" in verdicts["bomb.png"][1]
    assert verdicts["readme.txt"][0] == "rejected"

    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as tar:
        data = good[1].read_bytes()
        info = tarfile.TarInfo("parts/b.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        symlink = tarfile.TarInfo("evil.jpg")
        symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(symlink)
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/archives",
                       files={"file": ("batch.tar.gz", tarred.getvalue(), "application/gzip")})
    assert (report["added"], report["rejected"]) == (1, 1)

    not_archive = member.post(f"/api/v1/datasets/{dataset['id']}/archives",
                              files={"file": ("x.zip", b"plain text", "application/zip")})
    assert not_archive.status_code == 415
    assert "neither a zip nor a tar" in not_archive.json()["detail"]


def test_a_truncated_archive_keeps_its_whole_entries(api):
    member = api.signup()
    _, dataset = setup_dataset(member)
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as tar:
        for index, path in enumerate(neu_images(3)):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"part-{index}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cut = tarred.getvalue()[: len(tarred.getvalue()) * 2 // 3]  # the connection dropped
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/archives",
                       files={"file": ("cut.tar.gz", cut, "application/gzip")})
    verdicts = {f["path"]: f["status"] for f in report["files"]}
    assert verdicts["part-0.jpg"] == "added"
    assert verdicts["part-1.jpg"] == "rejected"
    assert report["added"] == 1
    items = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items")
    assert [item["path"] for item in items["items"]] == ["part-0.jpg"]


def test_presigned_upload_to_the_s3_server(api):
    member = api.signup()
    _, dataset = setup_dataset(member)
    image = neu_images(1, offset=10)[0].read_bytes()
    upload = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/uploads", 201, json={
        "files": [{"name": "cam/1.jpg", "size": len(image)},
                  {"name": "cam/never.jpg", "size": 100}]})
    assert upload["files"][0]["url"].startswith(f"http://{api.settings.s3_endpoint}/")
    put = httpx.put(upload["files"][0]["url"], content=image)
    assert put.status_code == 200, put.text
    report = member.ok("POST", f"/api/v1/uploads/{upload['id']}/finalize")
    assert (report["added"], report["rejected"]) == (1, 1)
    assert report["files"][1]["detail"] == "never uploaded to its URL"
    assert not [key for key in objects(api, member) if "/staging/" in key]
    again = member.post(f"/api/v1/uploads/{upload['id']}/finalize")
    assert again.status_code == 409


def test_bad_requests_answer_one_clear_problem(api, postgres_url, s3_server):
    member = api.signup()
    project, dataset = setup_dataset(member)
    wrong_type = member.post(f"/api/v1/datasets/{dataset['id']}/items",
                             json={"files": ["a.jpg"]})
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["field"] == "files"
    missing = member.post("/api/v1/projects", json={"description": "no name"})
    assert missing.status_code == 422 and missing.json()["detail"].startswith("name:")
    bad_labels = member.post(f"/api/v1/datasets/{dataset['id']}/versions", json={"note": 5})
    assert bad_labels.status_code == 422
    empty = member.post(f"/api/v1/datasets/{dataset['id']}/versions", json={})
    assert empty.status_code == 422 and "no images yet" in empty.json()["detail"]
    bad_config = member.post(f"/api/v1/projects/{project['id']}/jobs", json={
        "kind": "pretrain", "inputs": {"dataset_version_id": project["id"]},
        "config": {"backbone": {"name": "vgg16"}}})
    assert bad_config.status_code == 422
    assert bad_config.json()["detail"].startswith("config.backbone.name")
    unknown_kind = member.post(f"/api/v1/projects/{project['id']}/jobs",
                               json={"kind": "teleport"})
    assert unknown_kind.status_code == 422 and "unknown job kind" in unknown_kind.json()["detail"]
    for response in (wrong_type, missing, bad_config, unknown_kind):
        assert response.headers["content-type"] == "application/problem+json"


def test_oversized_body_is_413_and_nothing_is_kept(postgres_url, s3_server):
    from tests.integration.conftest import make_api, production_settings

    settings = production_settings(postgres_url, s3_server, max_request_bytes=50_000)
    for small in make_api(settings):
        member = small.signup()
        _, dataset = setup_dataset(member)
        response = member.post(f"/api/v1/datasets/{dataset['id']}/items",
                               files=multipart(neu_images(4)))
        assert response.status_code == 413 and response.json()["title"] == "Content too large"
        assert objects(small, member) == []


def test_a_failure_midway_leaves_no_items_and_no_orphan_objects(api, monkeypatch):
    member = api.signup()
    _, dataset = setup_dataset(member)
    calls = {"n": 0}
    real_put = type(api.store).put_file

    def failing_put(store, key, stream, size, content_type):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("object store went away")
        return real_put(store, key, stream, size, content_type)

    monkeypatch.setattr(type(api.store), "put_file", failing_put)
    with pytest.raises(ConnectionError):
        member.post(f"/api/v1/datasets/{dataset['id']}/items", files=multipart(neu_images(3)))
    monkeypatch.undo()
    assert objects(api, member) == []
    with api.session() as session:
        assert session.scalars(select(DatasetItem).where(
            DatasetItem.dataset_id == dataset["id"])).all() == []


def test_quota_answers_which_quota_and_keeps_what_was_accepted(api):
    member = api.signup()
    project, dataset = setup_dataset(member)
    with api.session() as session:
        organization = session.get(Organization, member.organization_id)
        organization.images_per_dataset_quota = 2
        session.commit()
    api.settings.max_queued_jobs = 1
    response = member.post(f"/api/v1/datasets/{dataset['id']}/items",
                           files=multipart(neu_images(3, offset=20)))
    assert response.status_code == 429
    body = response.json()
    assert body["quota"] == "images_per_dataset" and body["report"]["added"] == 2
    listed = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items")
    assert listed["total"] == 2  # the two accepted before the limit stayed
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    job = {"kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
           "config": TWO_IMAGE_PRETRAIN}
    member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json=job)
    second = member.post(f"/api/v1/projects/{project['id']}/jobs", json=job)
    assert second.status_code == 429 and second.json()["quota"] == "queued_jobs"
    usage = member.ok("GET", "/api/v1/organization/usage")
    assert usage["queued_jobs"] == 1 and usage["storage_bytes"] > 0


def test_yolo_and_coco_label_import(api):
    member = api.signup()
    _, dataset = setup_dataset(member)
    kolektor = sorted((SHARED_DATA / "kolektorsdd" / "Datasets" / "images" / "train")
                      .glob("*.jpg"))[:4]
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(kolektor))
    labels_dir = SHARED_DATA / "kolektorsdd" / "Datasets" / "labels" / "train"
    entries = {f"labels/{p.stem}.txt": (labels_dir / f"{p.stem}.txt").read_bytes()
               for p in kolektor}
    entries["classes.txt"] = b"defect\n"
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
                       files={"file": ("yolo.zip", zip_bytes(entries), "application/zip")},
                       data={"format": "yolo"})
    assert report["matched"] == 4
    stats = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/stats")
    assert stats["good"] + stats["defect"] == 4

    item = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items")["items"][0]
    coco = {"images": [{"id": 1, "file_name": item["path"], "width": item["width"],
                        "height": item["height"]}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]}],
            "categories": [{"id": 7, "name": "crack"}]}
    import json

    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
                       files={"file": ("c.json", json.dumps(coco).encode(), "application/json")},
                       data={"format": "coco"})
    assert report == {"format": "coco", "matched": 1, "unmatched": [], "classes": ["crack"]}
    broken = member.post(f"/api/v1/datasets/{dataset['id']}/labels/import",
                         files={"file": ("c.json", b"{not json", "application/json")},
                         data={"format": "coco"})
    assert broken.status_code == 422 and "COCO" in broken.json()["detail"]


def test_duplicate_bytes_are_stored_once_across_datasets(api):
    member = api.signup()
    _, first = setup_dataset(member, "first")
    _, second = setup_dataset(member, "second")
    data = png_bytes(9)
    for dataset in (first, second):
        member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items",
                  files=[("files", ("same.png", data, "image/png"))])
    with api.session() as session:
        blobs = session.scalars(select(Blob).where(
            Blob.organization_id == member.organization_id)).all()
    assert len(blobs) == 1
    assert len([k for k in objects(api, member) if "/blobs/" in k]) == 1


def test_batches_settle_in_upload_order(api, monkeypatch):
    """Files are settled in batches (here of 2): repeated contents and paths across and
    within batches, rejections in between, and the report keeps the upload order. A small
    JPEG is its own thumbnail; a PNG gets one."""
    monkeypatch.setattr("api.datasets.ingest.BATCH_SIZE", 2)
    member = api.signup()
    _, dataset = setup_dataset(member)
    first, second = (path.read_bytes() for path in neu_images(2, offset=30))
    files = [("a.jpg", first), ("../evil.jpg", first), ("b.jpg", first), ("c.png", png_bytes(3)),
             ("broken.jpg", first[:200]), ("a.jpg", second), ("d.jpg", second)]
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=[
        ("files", (name, data, "application/octet-stream")) for name, data in files])
    assert [(f["path"], f["status"]) for f in report["files"]] == [
        ("a.jpg", "added"), ("../evil.jpg", "rejected"), ("b.jpg", "duplicate"),
        ("c.png", "added"), ("broken.jpg", "rejected"), ("a.jpg", "replaced"),
        ("d.jpg", "duplicate")]
    assert report["files"][2]["detail"] == "same image as a.jpg"
    assert report["files"][6]["detail"] == "same image as a.jpg"
    assert "not a readable image" in report["files"][4]["detail"]
    listed = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items")["items"]
    assert [(item["path"], item["sha256"]) for item in listed] == [
        ("a.jpg", report["files"][5]["sha256"]), ("c.png", report["files"][3]["sha256"])]
    keys = objects(api, member)
    assert len([k for k in keys if "/blobs/" in k]) == 3  # first, second and the PNG
    assert [k for k in keys if "/thumbnails/" in k] == [
        f"{member.organization_id}/thumbnails/{report['files'][3]['sha256']}.jpg"]
    for item in listed:
        thumbnail = fetch(member, item["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
