"""No organization ever sees another's data: every route, walked with a stranger's token.

Organization A builds one of everything; B's owner then calls every operation of the
OpenAPI document that takes an id, with A's ids and a valid body, and must get 404 (or 403),
never a success. Lists B may call must not contain any of A's ids.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from api.models.jobs import Job, JobStatus
from tests.integration.helpers import (
    TWO_IMAGE_PRETRAIN,
    multipart,
    neu_images,
    setup_dataset,
    zip_bytes,
)


def build_everything(member) -> dict[str, str]:
    project, dataset = setup_dataset(member)
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items",
                       files=multipart(neu_images(2)))
    item_id = report["files"][0]["item_id"]
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    upload = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/uploads", 201,
                       json={"files": [{"name": "a.png", "size": 10}]})
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": TWO_IMAGE_PRETRAIN})
    with member.api.session() as session:
        row = session.scalar(select(Job).where(Job.id == uuid.UUID(job["id"])))
        row.status, row.artifacts = JobStatus.succeeded, {"checkpoint": "x"}
        session.commit()
    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "m"})
    model_version = member.ok("POST", f"/api/v1/models/{model['id']}/versions", 201,
                              json={"job_id": job["id"]})
    member.ok("PUT", f"/api/v1/models/{model['id']}/aliases/production",
              json={"model_version_id": model_version["id"]})
    key = member.ok("POST", "/api/v1/api-keys", 201, json={"name": "k", "scopes": ["read"]})
    me = member.ok("GET", "/api/v1/auth/me")
    return {"project_id": project["id"], "dataset_id": dataset["id"], "item_id": item_id,
            "dataset_version_id": version["id"], "upload_id": upload["id"],
            "job_id": job["id"], "model_id": model["id"],
            "model_version_id": model_version["id"], "key_id": key["id"], "user_id": me["id"],
            "alias": "production", "name": "checkpoint"}


def body_for(method: str, path: str, ids: dict[str, str]) -> dict:
    """A valid request for the operation, so only tenancy can refuse it."""
    if (path.endswith("/items") and method == "POST") or path.endswith("/predict"):
        return {"files": multipart(neu_images(1, offset=50))}
    if path.endswith("/archives"):
        return {"files": {"file": ("a.zip", zip_bytes({"x.jpg": neu_images(1, 60)[0]
                                                      .read_bytes()}), "application/zip")}}
    if path.endswith("/labels/import"):
        return {"files": {"file": ("c.json", b'{"images": [], "annotations": []}',
                                   "application/json")}, "data": {"format": "coco"}}
    json_bodies = {
        ("POST", "/api/v1/projects/{project_id}/datasets"): {"name": "intruder"},
        ("PATCH", "/api/v1/projects/{project_id}"): {"name": "taken"},
        ("PATCH", "/api/v1/datasets/{dataset_id}"): {"name": "taken"},
        ("PUT", "/api/v1/datasets/{dataset_id}/items/{item_id}/labels"): {"class_name": "x"},
        ("POST", "/api/v1/datasets/{dataset_id}/uploads"): {"files": [{"name": "b.png",
                                                                       "size": 5}]},
        ("POST", "/api/v1/datasets/{dataset_id}/versions"): {},
        ("POST", "/api/v1/projects/{project_id}/jobs"): {
            "kind": "pretrain", "inputs": {"dataset_version_id": ids["dataset_version_id"]},
            "config": TWO_IMAGE_PRETRAIN},
        ("POST", "/api/v1/projects/{project_id}/models"): {"name": "intruder"},
        ("POST", "/api/v1/models/{model_id}/versions"): {"job_id": ids["job_id"]},
        ("PUT", "/api/v1/models/{model_id}/aliases/{alias}"): {
            "model_version_id": ids["model_version_id"]},
        ("PATCH", "/api/v1/members/{user_id}"): {"role": "viewer"},
    }
    body = json_bodies.get((method, path))
    return {"json": body} if body is not None else {}


def fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "version_id":
            name = "model_version_id" if "/model-versions/" in path else "dataset_version_id"
        return ids[name]

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_route_hides_other_organizations(api):
    alice = api.signup("A")
    ids = build_everything(alice)
    mallory = api.signup("B")
    build_everything(mallory)  # B has data of its own, so a leak would be a real mix-up
    schema = api.client.get("/openapi.json").json()
    walked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            method = method.upper()
            if "{" not in path:
                continue
            response = mallory.request(method, fill(path, ids), **body_for(method, path, ids))
            assert response.status_code in (403, 404), (
                f"{method} {path} answered {response.status_code} to another organization: "
                f"{response.text[:300]}")
            assert response.headers["content-type"].startswith("application/problem+json")
            walked += 1
    assert walked >= 35

    for path in ("/api/v1/projects", "/api/v1/members", "/api/v1/api-keys",
                 "/api/v1/invitations", "/api/v1/audit-events", "/api/v1/organization",
                 "/api/v1/organizations"):
        text = mallory.get(path).text
        for name in ("project_id", "dataset_id", "user_id", "key_id"):
            assert ids[name] not in text, f"{path} shows A's {name}"
    # A's data is still all there.
    assert alice.ok("GET", f"/api/v1/projects/{ids['project_id']}")["name"] == "p-d"


def test_foreign_ids_inside_bodies_are_refused(api):
    alice, mallory = api.signup("A"), api.signup("B")
    ids = build_everything(alice)
    project, _ = setup_dataset(mallory)
    response = mallory.post(f"/api/v1/projects/{project['id']}/jobs", json={
        "kind": "pretrain", "inputs": {"dataset_version_id": ids["dataset_version_id"]},
        "config": TWO_IMAGE_PRETRAIN})
    assert response.status_code == 404
    model = mallory.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                       json={"name": "m"})
    response = mallory.post(f"/api/v1/models/{model['id']}/versions",
                            json={"job_id": ids["job_id"]})
    assert response.status_code == 404
    response = mallory.get("/api/v1/model-comparison",
                           params={"version_id": [ids["model_version_id"]]})
    assert response.status_code == 404
