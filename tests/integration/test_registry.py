"""Model versions carry the platform's figures only: a user cannot type metrics, register a
job that left no model, or register the same job twice; notes are kept apart."""

from __future__ import annotations

from tests.integration.helpers import (
    TWO_IMAGE_PRETRAIN,
    mark_succeeded,
    multipart,
    neu_images,
    setup_dataset,
)


def test_versions_hold_platform_metrics_and_user_notes_apart(any_api):
    member = any_api.signup()
    project, dataset = setup_dataset(member)
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(neu_images(2)))
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    jobs = f"/api/v1/projects/{project['id']}/jobs"
    pretrain = member.ok("POST", jobs, 201, json={
        "kind": "pretrain", "inputs": {"dataset_version_id": version["id"]},
        "config": TWO_IMAGE_PRETRAIN})
    mark_succeeded(any_api, pretrain["id"], result={"metrics": {"loss": 2.5}},
             artifacts={"checkpoint": {"key": "k", "bytes": 10, "step": 1}})
    # an evaluation of that checkpoint, as the platform would have run it
    evaluation = member.ok("POST", jobs, 201, json={"kind": "probe", "gpus": 0})
    mark_succeeded(any_api, evaluation["id"], kind="evaluate",
             config={"checkpoint": f"job://{pretrain['id']}"},
             result={"metrics": {"knn": {"k=20": {"balanced_accuracy": 0.718}}}})
    probe = member.ok("POST", jobs, 201, json={"kind": "probe", "gpus": 0})
    mark_succeeded(any_api, probe["id"])
    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "m"})
    versions = f"/api/v1/models/{model['id']}/versions"

    typed = member.post(versions, json={"job_id": pretrain["id"],
                                        "metrics": {"knn.k=20.balanced_accuracy": 0.99}})
    assert typed.status_code == 422 and "put your own figures in notes" in typed.json()["detail"]
    no_model = member.post(versions, json={"job_id": probe["id"]})
    assert no_model.status_code == 409 and "left no model" in no_model.json()["detail"]

    registered = member.ok("POST", versions, 201, json={"job_id": pretrain["id"],
                                                         "notes": "looked good to me: 0.99"})
    assert registered["metrics"] == {"loss": 2.5, "knn.k=20.balanced_accuracy": 0.718}
    assert registered["notes"] == "looked good to me: 0.99"
    again = member.post(versions, json={"job_id": pretrain["id"]})
    assert again.status_code == 409 and "already version 1" in again.json()["detail"]
    table = member.ok("GET", "/api/v1/model-comparison",
                      params={"version_id": [registered["id"]]})
    assert table["rows"][0]["metrics"]["knn.k=20.balanced_accuracy"] == 0.718
    assert "notes" not in table["rows"][0]["metrics"]
