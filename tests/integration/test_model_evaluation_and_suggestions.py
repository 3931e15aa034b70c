"""What the browser shows beside a model and on the labeling page: a model version's
evaluation (its confusion matrix, curves and misclassified images, pictures presigned) and a
suggest job's images tied back to the dataset's items. Another organization gets 404s."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from api.kit.settings import Settings
from tests.integration.conftest import Api, make_api
from tests.integration.helpers import fetch, mark_succeeded, multipart, neu_images, setup_dataset


@pytest.fixture
def embedded_api(sqlite_url, tmp_path) -> Iterator[Api]:
    """The API in embedded mode (SQLite, a folder); jobs are recorded, never run."""
    yield from make_api(Settings(environment="test", database_url=sqlite_url,
                                 storage_url=f"file://{tmp_path / 'objects'}",
                                 login_failures_per_window=1000))


def test_a_model_versions_evaluation_with_its_pictures(embedded_api):
    member = embedded_api.signup()
    project, _ = setup_dataset(member)
    jobs = f"/api/v1/projects/{project['id']}/jobs"
    job = member.ok("POST", jobs, 201, json={"kind": "probe", "gpus": 0})
    org = member.organization_id
    picture_key = f"{org}/jobs/{job['id']}/evaluation/heatmaps/012.png"
    embedded_api.store.put_bytes(picture_key, b"\x89PNG picture", "image/png")
    document = {
        "format": "hatchery.evaluation/1", "task": "anomaly", "class_names": ["good", "defect"],
        "threshold": 0.4, "confusion_matrix": [[3, 1], [0, 2]],
        "curves": [{"label": "defect", "auc": 0.9, "average_precision": 0.8,
                    "roc": [{"x": 0, "y": 0}, {"x": 1, "y": 1}],
                    "pr": [{"x": 0, "y": 1}, {"x": 1, "y": 0.5}]}],
        "images_total": 6,
        "images": [{"path": "012.jpg", "true": "good", "predicted": "defect", "score": 0.5,
                    "picture": picture_key},
                   {"path": "013.jpg", "true": "good", "predicted": "good", "score": 0.1,
                    "picture": f"{uuid.uuid4()}/jobs/x/evaluation/other.png"}]}
    evaluation_key = f"{org}/jobs/{job['id']}/evaluation.json"
    embedded_api.store.put_bytes(evaluation_key, json.dumps(document).encode(),
                                 "application/json")
    mark_succeeded(embedded_api, job["id"], kind="finetune", config={"task": "anomaly"},
                result={"metrics": {"image_auroc": 0.9}},
                artifacts={"model": {"key": f"{org}/jobs/{job['id']}/model.tar", "bytes": 1},
                           "evaluation": {"key": evaluation_key, "bytes": 10}})
    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "anomaly"})
    version = member.ok("POST", f"/api/v1/models/{model['id']}/versions", 201,
                        json={"job_id": job["id"]})

    evaluation = member.ok("GET", f"/api/v1/model-versions/{version['id']}/evaluation")
    assert evaluation["task"] == "anomaly" and evaluation["threshold"] == 0.4
    assert evaluation["confusion_matrix"] == [[3, 1], [0, 2]]
    assert evaluation["curves"][0]["roc"][-1] == {"x": 1.0, "y": 1.0}
    wrong, right = evaluation["images"]
    assert (wrong["true"], wrong["predicted"]) == ("good", "defect")
    assert fetch(member, wrong["picture_url"]).content == b"\x89PNG picture"
    assert right["picture_url"] is None  # a key outside the organization is never signed

    outsider = embedded_api.signup("Other Works")
    assert outsider.get(f"/api/v1/model-versions/{version['id']}/evaluation"
                        ).status_code == 404


def test_a_version_without_an_evaluation_says_so(embedded_api):
    member = embedded_api.signup()
    project, _ = setup_dataset(member)
    job = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201,
                    json={"kind": "probe", "gpus": 0})
    mark_succeeded(embedded_api, job["id"], kind="finetune", config={"task": "detect"},
                artifacts={"model": {"key": "k", "bytes": 1}})
    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "boxes"})
    version = member.ok("POST", f"/api/v1/models/{model['id']}/versions", 201,
                        json={"job_id": job["id"]})
    missing = member.get(f"/api/v1/model-versions/{version['id']}/evaluation")
    assert missing.status_code == 404 and "no evaluation" in missing.json()["detail"]


def test_suggestions_name_the_datasets_items(embedded_api):
    member = embedded_api.signup()
    project, dataset = setup_dataset(member)
    images = neu_images(3)
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(images))
    version = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    items = {item["path"]: item["id"] for item in member.ok(
        "GET", f"/api/v1/datasets/{dataset['id']}/items")["items"]}
    first, second, third = (path.name for path in images)
    jobs = f"/api/v1/projects/{project['id']}/jobs"
    job = member.ok("POST", jobs, 201, json={"kind": "probe", "gpus": 0})
    pending = member.get(f"/api/v1/jobs/{job['id']}/suggestions")
    assert pending.status_code == 409 and "only suggest jobs" in pending.json()["detail"]
    mark_succeeded(embedded_api, job["id"], kind="suggest",
                config={"data": f"dataset-version://{version['id']}",
                        "checkpoint": f"job://{uuid.uuid4()}", "k": 2},
                result={"images": 3, "labeled": 1,
                        "ranked": [{"path": first, "score": 0.8,
                                    "reasons": ["far from every labeled image (distance 0.80)"]},
                                   {"path": "gone.jpg", "score": 0.5, "reasons": []}],
                        "suspect_labels": [{"path": second, "label": "crazing",
                                            "neighbours_say": "scratches",
                                            "confidence": 0.9}],
                        "near_duplicates": [[second, third, 0.99]],
                        "untouched_clusters": []})

    answer = member.ok("GET", f"/api/v1/jobs/{job['id']}/suggestions")
    assert answer["dataset_id"] == dataset["id"] and answer["images"] == 3
    top, gone = answer["ranked"]
    assert top["item_id"] == items[first] and top["thumbnail_url"]
    assert top["reasons"] == ["far from every labeled image (distance 0.80)"]
    assert gone["item_id"] is None and gone["thumbnail_url"] is None
    assert answer["suspect_labels"][0]["item_id"] == items[second]
    pair = answer["near_duplicates"][0]
    assert (pair["first"]["item_id"], pair["second"]["item_id"]) == (items[second],
                                                                      items[third])

    outsider = embedded_api.signup("Other Works")
    assert outsider.get(f"/api/v1/jobs/{job['id']}/suggestions").status_code == 404
