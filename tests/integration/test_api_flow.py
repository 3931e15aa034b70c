"""The whole path a user takes, on Postgres + SeaweedFS and on SQLite + a folder."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

from sqlalchemy import select

from api.models.jobs import Job, JobStatus
from tests.integration.helpers import (
    NEU,
    fetch,
    multipart,
    neu_images,
    png_bytes,
    setup_dataset,
)


def test_upload_label_version_export_train_register(any_api):
    member = any_api.signup()
    project, dataset = setup_dataset(member)
    images = neu_images(6)

    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=[
        *multipart(images),
        ("files", ("notes.txt", b"not an image", "text/plain")),
        ("files", ("broken.jpg", images[0].read_bytes()[:400], "image/jpeg")),
        ("files", ("again.jpg", images[1].read_bytes(), "image/jpeg")),
    ])
    assert (report["added"], report["duplicate"], report["rejected"]) == (6, 1, 2)
    rejected = {f["path"]: f["detail"] for f in report["files"] if f["status"] == "rejected"}
    assert "not a readable image" in rejected["notes.txt"]
    assert "/tmp" not in rejected["broken.jpg"]

    # The same bytes in another dataset of the organization are stored once.
    _, other = setup_dataset(member, "other")
    member.ok("POST", f"/api/v1/datasets/{other['id']}/items", files=multipart(images[:2]))
    blobs = [o for o in any_api.store.list(f"{member.organization_id}/blobs/")]
    assert len(blobs) == 6

    voc = io.BytesIO()
    with zipfile.ZipFile(voc, "w") as archive:
        for image in images[:4]:
            xml = NEU / "ANNOTATIONS" / f"{image.stem}.xml"
            archive.writestr(xml.name, xml.read_bytes())
    imported = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
                         files={"file": ("voc.zip", voc.getvalue(), "application/zip")},
                         data={"format": "voc"})
    assert imported["matched"] == 4 and not imported["unmatched"]

    labeled = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items",
                        params={"labeled": True, "limit": 2})
    assert labeled["total"] == 4 and len(labeled["items"]) == 2
    past_the_end = member.ok("GET", f"/api/v1/datasets/{dataset['id']}/items",
                             params={"labeled": True, "offset": 10})
    assert past_the_end["total"] == 4 and past_the_end["items"] == []
    assert labeled["items"][0]["annotations"][0]["type"] == "box"
    thumbnail = fetch(member, labeled["items"][0]["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"

    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201,
                        json={"note": "first labels"})
    assert version["number"] == 1
    assert version["stats"]["items"] == 6 and version["stats"]["labeled"] == 4
    assert sum(version["stats"]["classes"].values()) == 4

    # A version never changes underfoot: relabel the draft, the version keeps its labels.
    item = labeled["items"][0]
    member.ok("PUT", f"/api/v1/datasets/{dataset['id']}/items/{item['id']}/labels",
              json={"class_name": "relabeled", "is_defect": False})
    frozen = member.ok("GET", f"/api/v1/dataset-versions/{version['id']}/items",
                       params={"class_name": "relabeled"})
    assert frozen["total"] == 0

    export = member.get(f"/api/v1/dataset-versions/{version['id']}/export",
                        params={"format": "coco"})
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        names = archive.namelist()
        coco = json.loads(archive.read("annotations.json"))
    assert len([n for n in names if n.startswith("images/")]) == 6
    assert len(coco["images"]) == 6 and len(coco["annotations"]) >= 4

    folders = member.get(f"/api/v1/dataset-versions/{version['id']}/export")
    with zipfile.ZipFile(io.BytesIO(folders.content)) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    assert "unlabeled" in top and len(top) >= 2

    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": {"steps": 5, "batch_size": 4, "data": {"image_size": 32},
                   "runtime": {"bn_splits": 2}}})
    assert job["status"] == "queued" and job["config"]["data"]["path"] == (
        f"dataset-version://{version['id']}")
    assert any_api.dispatcher.sent[-1][0].hex == job["id"].replace("-", "")

    # A worker (issue 4) would run it; here the row is completed as a worker would.
    with any_api.session() as session:
        row = session.scalar(select(Job).where(Job.id == uuid.UUID(job["id"])))
        key = f"{member.organization_id}/jobs/{job['id']}/checkpoint.pt"
        any_api.store.put_bytes(key, b"checkpoint bytes", "application/octet-stream")
        row.status = JobStatus.succeeded
        row.result = {"metrics": {"knn": {"k=20": {"balanced_accuracy": 0.91}}}}
        row.artifacts = {"checkpoint": key}
        session.commit()

    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "texture-backbone"})
    registered = member.ok("POST", f"/api/v1/models/{model['id']}/versions", 201,
                           json={"job_id": job["id"]})
    assert registered["metrics"] == {"knn.k=20.balanced_accuracy": 0.91}
    assert registered["dataset_version_id"] == version["id"]
    promoted = member.ok("PUT", f"/api/v1/models/{model['id']}/aliases/production",
                         json={"model_version_id": registered["id"]})
    assert promoted["aliases"] == {"production": registered["id"]}
    table = member.ok("GET", "/api/v1/model-comparison",
                      params={"version_id": [registered["id"]]})
    assert table["metrics"] == ["knn.k=20.balanced_accuracy"]
    url = member.ok("GET", f"/api/v1/model-versions/{registered['id']}/artifacts/checkpoint")
    download = fetch(member, url["url"])
    assert download.content == b"checkpoint bytes"
    events = member.ok("GET", "/api/v1/audit-events", params={"action": "model.promoted"})
    assert len(events) == 1


def test_sixteen_bit_and_palette_images_are_accepted(any_api):
    member = any_api.signup()
    _, dataset = setup_dataset(member)
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=[
        ("files", ("deep.png", png_bytes(3000, mode="I;16"), "image/png")),
        ("files", ("plain.png", png_bytes(7), "image/png"))])
    assert report["added"] == 2, report
