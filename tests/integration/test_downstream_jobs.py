"""Defect models as platform jobs, end to end on a real worker in embedded mode (as `make run`
runs it): finetune (anomaly from good parts, few-label classification), predict on a dataset
version, export, registration with the platform's metrics, a pipeline that pretrains and
finetunes; another organization reaches none of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from tests.integration.conftest import Member
from tests.integration.deployments import Deployment, embedded_deployment
from tests.integration.helpers import NEU, fetch, multipart, setup_dataset
from worker.embedded import neu_sample, voc_labels

KOLEKTOR = SHARED_DATA / "kolektorsdd" / "Datasets"
# KolektorSDD train images: 000-004 and 008-011 show good parts, 012 and 018 defective ones;
# a commutator is shot in 8 images, so train (000-003) and test (009-018) hold other parts.
TRAIN_GOOD, TEST_GOOD, TEST_DEFECT = ("000", "001", "002", "003"), ("009", "010"), ("012", "018")
SMALL_ANOMALY = {"input_scale": 0.25, "bank_size": 256, "patches_per_image": 256,
                 "device": "cpu"}


@pytest.fixture
def embedded(tmp_path) -> Iterator[Deployment]:
    yield from embedded_deployment(tmp_path)


def labeled_upload(member: Member, dataset: dict, images: list[Path], rows: list[str]) -> dict:
    """Upload ``images``, label them by a CSV (``path,class_name,is_defect,split`` rows),
    freeze a version."""
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(images))
    table = "path,class_name,is_defect,split\n" + "\n".join(rows) + "\n"
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
              files={"file": ("labels.csv", table.encode(), "text/csv")},
              data={"format": "csv"})
    return member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})


def kolektor_version(member: Member) -> tuple[dict, dict]:
    project, dataset = setup_dataset(member, "commutators")
    names = TRAIN_GOOD + TEST_GOOD + TEST_DEFECT
    rows = [f"{name}.jpg,,false,train" for name in TRAIN_GOOD]
    rows += [f"{name}.jpg,,false,test" for name in TEST_GOOD]
    rows += [f"{name}.jpg,,true,test" for name in TEST_DEFECT]
    images = [KOLEKTOR / "images" / "train" / f"{name}.jpg" for name in names]
    return project, labeled_upload(member, dataset, images, rows)


def neu_version(member: Member, project: dict, marked: bool = True) -> dict:
    """Six crazing and six scratches images; every third marked test when ``marked``."""
    dataset = member.ok("POST", f"/api/v1/projects/{project['id']}/datasets", 201,
                        json={"name": "steel" if marked else "steel, unsplit"})
    images = [path for path in neu_sample(NEU, 6) if path.name.startswith(("crazing",
                                                                            "scratches"))]
    rows = [f"{path.name},{path.stem.split('_')[0]},true,"
            f"{'test' if marked and index % 3 == 2 else ''}" for index, path in enumerate(images)]
    return labeled_upload(member, dataset, images, rows)


def submit(member: Member, project: dict, body: dict) -> dict:
    return member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json=body)


def succeeded(deployment: Deployment, member: Member, job: dict) -> dict:
    done = deployment.wait_status(member, job["id"], "succeeded", "failed", timeout=240)
    assert done["status"] == "succeeded", (done["error"], deployment.workers.logs())
    return done


def artifact_text(deployment: Deployment, job: dict, name: str) -> str:
    with deployment.api.store.open(job["artifacts"][name]["key"]) as stream:
        return stream.read().decode()


def test_finetune_predict_export_and_register_defect_models(embedded):
    member = embedded.api.signup()
    project, commutators = kolektor_version(member)
    steel = neu_version(member, project)
    embedded.workers.start("w1")

    anomaly = succeeded(embedded, member, submit(member, project, {
        "kind": "finetune", "gpus": 0, "name": "commutator anomalies",
        "inputs": {"train_version_id": commutators["id"]},
        "config": {"task": "anomaly", "backbone": {"architecture": "resnet18"},
                   "anomaly": SMALL_ANOMALY}}))
    metrics = anomaly["result"]["metrics"]
    assert (metrics["val_good"], metrics["val_defect"]) == (2, 2)
    assert 0 <= metrics["image_auroc"] <= 1 and anomaly["result"]["threshold"] > 0
    # measured beside the baseline it is not itself: raw pixels, on the same images
    assert set(metrics["baselines"]) == {"raw_pixels"}
    assert isinstance(anomaly["result"]["warnings"], list)
    assert embedded.api.store.exists(anomaly["artifacts"]["model"]["key"])
    assert embedded.api.store.exists(anomaly["artifacts"]["heatmaps"]["key"])
    assert "<job folder>" not in json.dumps(anomaly["result"])  # no worker path leaks

    classify = succeeded(embedded, member, submit(member, project, {
        "kind": "finetune", "gpus": 0, "inputs": {"train_version_id": steel["id"]},
        "config": {"task": "classify", "backbone": {"architecture": "resnet18"},
                   "classify": {"method": "linear", "image_size": 32, "steps": 20,
                                "device": "cpu"}}}))
    report = classify["result"]
    assert report["classes"] == ["crazing", "scratches"]
    assert report["metrics"]["val_images"] == 4
    assert set(report["metrics"]["per_class"]) == {"crazing", "scratches"}
    assert report["metrics"]["majority_class_baseline"]["balanced_accuracy"] == 0.5
    assert "balanced_accuracy" in report["metrics"]["baselines"]["raw_pixels"]
    assert "balanced_accuracy" in report["metrics"]["baselines"]["labels_alone"]

    # Nothing marked test: whole parts are held out, the split kept beside the model.
    unsplit = neu_version(member, project, marked=False)
    held_out = succeeded(embedded, member, submit(member, project, {
        "kind": "finetune", "gpus": 0, "inputs": {"train_version_id": unsplit["id"]},
        "config": {"task": "classify", "backbone": {"architecture": "raw_pixels"},
                   "baselines": False,
                   "classify": {"method": "linear", "image_size": 32, "device": "cpu"}}}))
    sides = [line.split(",") for line in
             artifact_text(embedded, held_out, "split").splitlines()[1:]]
    assert len(sides) == 12 and {side for *_, side in sides} == {"train", "val"}
    assert held_out["result"]["metrics"]["val_images"] == sum(
        side == "val" for *_, side in sides)
    assert "path,group" in artifact_text(embedded, held_out, "groups")

    # Predict: every image of the version, named by its path in the version.
    predicted = succeeded(embedded, member, submit(member, project, {
        "kind": "predict", "gpus": 0,
        "inputs": {"model_job_id": anomaly["id"], "dataset_version_id": commutators["id"]},
        "config": {"heatmaps": True, "device": "cpu"}}))
    lines = [json.loads(line) for line in
             artifact_text(embedded, predicted, "predictions").splitlines()]
    assert sorted(line["image"] for line in lines) == sorted(
        f"{name}.jpg" for name in TRAIN_GOOD + TEST_GOOD + TEST_DEFECT)
    assert {line["verdict"] for line in lines} <= {"good", "defect"}
    assert sum(predicted["result"]["counts"].values()) == 8
    assert embedded.api.store.exists(predicted["artifacts"]["heatmaps"]["key"])

    exported = succeeded(embedded, member, submit(member, project, {
        "kind": "export", "gpus": 0, "inputs": {"model_job_id": classify["id"]},
        "config": {"format": "torchscript"}}))
    assert exported["result"]["max_abs_difference"] < 1e-4
    assert exported["result"]["sample"] == "a random 256 px image"  # a classifier keeps none
    assert embedded.api.store.exists(exported["artifacts"]["export"]["key"])

    # Registered with the platform's own figures, the model archive among its artifacts.
    model = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                      json={"name": "commutator check"})
    version = member.ok("POST", f"/api/v1/models/{model['id']}/versions", 201,
                        json={"job_id": anomaly["id"]})
    assert version["metrics"]["image_auroc"] == metrics["image_auroc"]
    assert version["artifacts"]["model"] == anomaly["artifacts"]["model"]["key"]
    sorter = member.ok("POST", f"/api/v1/projects/{project['id']}/models", 201,
                       json={"name": "steel sorter"})
    sorted_by = member.ok("POST", f"/api/v1/models/{sorter['id']}/versions", 201,
                          json={"job_id": classify["id"]})
    table = member.ok("GET", "/api/v1/model-comparison",
                      params={"version_id": [version["id"], sorted_by["id"]]})
    assert [(row["task"], row["primary_metric"], row["rank"]) for row in table["rows"]] == [
        ("anomaly", "image_auroc", 1), ("classify", "balanced_accuracy", 1)]
    assert all(row["metrics"]["latency_ms"] > 0 and row["metrics"]["model_bytes"] > 0
               for row in table["rows"])

    # At once, on a prediction server that keeps the model loaded after the first request.
    embedded.workers.start("p1", queues="predict")
    defect, good = (KOLEKTOR / "images" / "train" / f"{name}.jpg" for name in ("028", "011"))
    answered = member.ok("POST", f"/api/v1/model-versions/{version['id']}/predict",
                         files=multipart([defect, good]), data={"heatmaps": "true"})
    assert answered["task"] == "anomaly" and not answered["model_was_loaded"]
    assert [p["image"] for p in answered["predictions"]] == ["028.jpg", "011.jpg"]
    assert all(p["verdict"] in ("good", "defect") for p in answered["predictions"])
    assert fetch(member, answered["predictions"][0]["heatmap_url"]).status_code == 200
    again = member.ok("POST", f"/api/v1/model-versions/{version['id']}/predict",
                      files=[("files", ("note.jpg", b"not an image", "image/jpeg"))])
    assert again["model_was_loaded"] and "error" in again["predictions"][0]
    # More images than are answered at once become a predict job.
    many = neu_sample(NEU, 3)
    queued = member.post(f"/api/v1/model-versions/{sorted_by['id']}/predict",
                         files=multipart(many))
    assert queued.status_code == 202, queued.text
    later = succeeded(embedded, member, {"id": queued.json()["job_id"]})
    assert later["result"]["images"] == len(many) == 18

    # A predict job is no model; another organization cannot use this one.
    refused = member.post(f"/api/v1/models/{model['id']}/versions",
                          json={"job_id": predicted["id"]})
    assert refused.status_code == 409, refused.text
    mallory = embedded.api.signup("Intruders")
    own_project, _ = setup_dataset(mallory, "own")
    stolen = mallory.post(f"/api/v1/projects/{own_project['id']}/jobs", json={
        "kind": "export", "gpus": 0, "inputs": {"model_job_id": anomaly["id"]}})
    assert stolen.status_code == 404, stolen.text
    stolen = mallory.post(f"/api/v1/model-versions/{version['id']}/predict",
                          files=multipart([good]))
    assert stolen.status_code == 404, stolen.text


def test_a_pipeline_pretrains_finetunes_on_its_backbone_and_registers_the_defect_model(
        embedded):
    member = embedded.api.signup()
    project, commutators = kolektor_version(member)
    embedded.workers.start("w1")
    pipeline = submit(member, project, {
        "kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": commutators["id"]},
        "config": {"pretrain": {"backbone": {"name": "resnet18"}, "data": {"image_size": 64},
                                "batch_size": 4, "steps": 2, "memory": {"size": 8},
                                "runtime": {"device": "cpu", "batchnorm_leak_fix": "none"}},
                   "finetune": {"task": "anomaly",
                                "train": f"dataset-version://{commutators['id']}",
                                "anomaly": SMALL_ANOMALY}}})
    done = succeeded(embedded, member, pipeline)
    stages = done["result"]["stages"]
    finetune = member.ok("GET", f"/api/v1/jobs/{stages['finetune']}")
    assert finetune["config"]["backbone"]["checkpoint"] == f"job://{stages['pretrain']}"
    version = member.ok("GET", f"/api/v1/model-versions/{done['result']['model_version_id']}")
    assert version["job_id"] == stages["finetune"] and version["kind"] == "finetune"
    assert "image_auroc" in version["metrics"]
    assert "baselines.random_init.image_auroc" in version["metrics"]  # beside a pretrained one
    model = member.ok("GET", f"/api/v1/models/{version['model_id']}")
    assert model["name"] == "anomaly model"


def test_a_pipeline_with_plan_auto_pretrains_on_the_engines_plan_and_keeps_its_reasons(
        embedded):
    member = embedded.api.signup()
    project, commutators = kolektor_version(member)
    embedded.workers.start("w1")
    version_ref = f"dataset-version://{commutators['id']}"
    pipeline = submit(member, project, {
        "kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": commutators["id"]},
        "config": {"plan": "auto", "budget_minutes": 0.02, "pretrain": {},
                   "finetune": {"task": "anomaly", "train": version_ref,
                                "anomaly": SMALL_ANOMALY}}})
    done = succeeded(embedded, member, pipeline)
    stages = done["result"]["stages"]
    assert set(stages) == {"plan", "pretrain", "finetune"}
    plan_job = member.ok("GET", f"/api/v1/jobs/{stages['plan']}")
    assert plan_job["config"] == {"data": version_ref, "task": "anomaly",
                                  "budget_minutes": 0.02, "device": "cpu"}
    planned = plan_job["result"]["plan"]
    assert {"analysis", "groups", "plan"} <= set(plan_job["artifacts"])
    # the pretrain stage ran the plan's recipe on the pipeline's data
    pretrain = member.ok("GET", f"/api/v1/jobs/{stages['pretrain']}")
    assert pretrain["config"]["data"]["path"] == version_ref
    assert pretrain["config"]["batch_size"] == planned["pretrain"]["batch_size"] == 8
    assert pretrain["config"]["loss"]["dense_weight"] > 0  # defect sizes unknown: local
    # the pipeline keeps the plan's reasons and estimate
    reasons = done["result"]["plan"]["reasons"]
    assert any(reason["choice"] == "loss.dense_weight" for reason in reasons)
    assert done["result"]["plan"]["estimate"]["total_minutes"] > 0
    version = member.ok("GET", f"/api/v1/model-versions/{done['result']['model_version_id']}")
    assert version["job_id"] == stages["finetune"] and "image_auroc" in version["metrics"]

    # what to label next in a version with three labeled and three unlabeled images, on the
    # backbone the pipeline pretrained
    dataset = member.ok("POST", f"/api/v1/projects/{project['id']}/datasets", 201,
                        json={"name": "to label"})
    names = ("000", "001", "002", "004", "008", "012")
    partly = labeled_upload(member, dataset, [KOLEKTOR / "images" / "train" / f"{name}.jpg"
                                              for name in names],
                            [f"{name}.jpg,,false," for name in names[:3]])
    suggestions = succeeded(embedded, member, submit(member, project, {
        "kind": "suggest", "gpus": 0, "inputs": {"dataset_version_id": partly["id"],
                                      "checkpoint_job_id": stages["pretrain"]},
        "config": {"k": 2, "device": "cpu"}}))["result"]
    assert (suggestions["images"], suggestions["labeled"]) == (6, 3)
    assert [row["path"] in {"004.jpg", "008.jpg", "012.jpg"} for row in suggestions["ranked"]
            ] == [True, True]
    assert all(row["reasons"] for row in suggestions["ranked"])


def test_a_detector_learns_from_the_versions_boxes_and_predicts_them(embedded):
    member = embedded.api.signup()
    project, dataset = setup_dataset(member, "boxes")
    images = [path for path in neu_sample(NEU, 6) if path.name.startswith(("inclusion",
                                                                            "scratches"))]
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(images))
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
              files={"file": ("voc.zip", voc_labels(images, NEU / "ANNOTATIONS"),
                              "application/zip")}, data={"format": "voc"})
    splits = "path,split\n" + "".join(f"{path.name},{'test' if i % 3 == 2 else 'train'}\n"
                                      for i, path in enumerate(images))
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/labels/import",
              files={"file": ("splits.csv", splits.encode(), "text/csv")},
              data={"format": "csv"})
    boxes = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    embedded.workers.start("w1")

    detector = succeeded(embedded, member, submit(member, project, {
        "kind": "finetune", "gpus": 0, "inputs": {"train_version_id": boxes["id"]},
        "config": {"task": "detect", "backbone": {"architecture": "resnet18"},
                   "detect": {"steps": 2, "batch_size": 2, "image_size": 64,
                              "warmup_steps": 0, "device": "cpu"}}}))
    metrics = detector["result"]["metrics"]
    assert 0 <= metrics["box"]["map_50"] <= 1
    assert set(metrics["box"]["per_class"]) <= {"inclusion", "scratches"}
    predicted = succeeded(embedded, member, submit(member, project, {
        "kind": "predict", "gpus": 0,
        "inputs": {"model_job_id": detector["id"], "dataset_version_id": boxes["id"]}}))
    lines = [json.loads(line) for line in
             artifact_text(embedded, predicted, "predictions").splitlines()]
    assert len(lines) == 12 and all(isinstance(line["boxes"], list) for line in lines)
