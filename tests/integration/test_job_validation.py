"""A job the platform cannot run is refused at submit, naming the field; nothing is written.

Every case below was accepted (201) before and failed later in a worker with a raw Python
error, held the only worker, or read another organization's data or the worker's disk.
"""

from __future__ import annotations

import json
import math
import uuid

import pytest
from sqlalchemy import func, select

from api.models.datasets import DatasetVersion
from api.models.jobs import Job, JobStatus
from tests.integration.helpers import multipart, neu_images, setup_dataset


def labeled_version(member, dataset: dict, classes: dict[str, int], offset: int = 0,
                    splits: list[str | None] | None = None) -> dict:
    """A version of ``sum(classes.values())`` images labeled with those classes (and, when
    given, those splits, in the same order)."""
    images = neu_images(sum(classes.values()), offset=offset)
    report = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items",
                       files=multipart(images))
    names = [name for name, count in classes.items() for _ in range(count)]
    for index, (item, name) in enumerate(zip(report["files"], names, strict=True)):
        member.ok("PUT", f"/api/v1/datasets/{dataset['id']}/items/{item['item_id']}/labels",
                  json={"class_name": name, "split": splits[index] if splits else None})
    return member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})


@pytest.fixture
def setup(any_api):
    """One member with a project, an unlabeled version of 8 images, labeled train/test
    versions, a succeeded pretrain job and a pipeline job."""
    member = any_api.signup()
    project, dataset = setup_dataset(member, "parts")
    member.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(neu_images(8)))
    unlabeled = member.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    _, train_set = setup_dataset(member, "train")
    train = labeled_version(member, train_set, {"a": 2, "b": 2}, offset=40)
    _, test_set = setup_dataset(member, "test")
    test = labeled_version(member, test_set, {"a": 1, "b": 1}, offset=60)
    pretrain = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pretrain", "gpus": 0, "inputs": {"dataset_version_id": unlabeled["id"]},
        "config": {"steps": 1, "batch_size": 8}})
    with any_api.session() as session:
        row = session.get(Job, uuid.UUID(pretrain["id"]))
        row.status, row.artifacts = JobStatus.succeeded, {"checkpoint": {"key": "k", "bytes": 1}}
        session.commit()
    pipeline = member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": unlabeled["id"]},
        "config": {"pretrain": {"steps": 1, "batch_size": 8}}})
    return {"member": member, "project": project, "unlabeled": unlabeled["id"],
            "train": train["id"], "test": test["id"], "pretrain": pretrain["id"],
            "pipeline": pipeline["id"]}


def pretrain(ids, **config) -> dict:
    return {"kind": "pretrain", "gpus": 0, "inputs": {"dataset_version_id": ids["unlabeled"]},
            "config": {"steps": 1, "batch_size": 8, **config}}


def evaluate(ids, **overrides) -> dict:
    inputs = {"checkpoint_job_id": ids["pretrain"], "train_version_id": ids["train"],
              "test_version_id": ids["test"]}
    inputs.update(overrides.pop("inputs", {}))
    return {"kind": "evaluate", "gpus": 0, "inputs": inputs, "config": overrides}


def finetune(ids, task: str = "classify", inputs: dict | None = None, **config) -> dict:
    """A finetune job on the pretrain, the train and test versions (or ``inputs``)."""
    if inputs is None:
        inputs = {"checkpoint_job_id": ids["pretrain"], "train_version_id": ids["train"],
                  "test_version_id": ids["test"]}
    return {"kind": "finetune", "gpus": 0, "inputs": inputs, "config": {"task": task, **config}}


# (case, body builder, field named in the problem, words in the detail)
REFUSED = [
    ("epochs Infinity", lambda ids: pretrain(ids, steps=None, epochs=math.inf),
     "config.epochs", "finite"),
    ("steps 1e26", lambda ids: pretrain(ids, steps=1e26), "config.steps", "integer"),
    ("steps true", lambda ids: pretrain(ids, steps=True), "config.steps", "integer"),
    ("NaN blur sigma", lambda ids: pretrain(
        ids, augment={"view1": {"blur_sigma": [math.nan, 1.0]}}),
     "config.augment.view1.blur_sigma.0", "finite"),
    ("seed past 64 bits", lambda ids: pretrain(ids, runtime={"seed": 2**70}),
     "config.runtime.seed", "less than or equal"),
    ("hidden_dim 1e8", lambda ids: pretrain(ids, heads={"hidden_dim": 100_000_000}),
     "config.heads.hidden_dim", "less than or equal"),
    ("batch not a multiple of bn_splits", lambda ids: pretrain(ids, batch_size=6),
     "config.batch_size", "multiple of runtime.bn_splits"),
    ("batch larger than the data", lambda ids: pretrain(ids, batch_size=16),
     "config.batch_size", "more than dataset version"),
    ("memory larger than the data", lambda ids: pretrain(ids, memory={"size": 64}),
     "config.memory.size", "more than dataset version"),
    ("cuda without a GPU", lambda ids: pretrain(ids, runtime={"device": "cuda"}),
     "config.runtime.device", "needs a GPU"),
    ("a memory for mocov3", lambda ids: pretrain(ids, method="mocov3",
                                                 memory={"kind": "fifo"}),
     "config.memory", "uses no memory"),
    ("the data given twice", lambda ids: {
        "kind": "pretrain", "gpus": 0, "inputs": {"dataset_version_id": ids["unlabeled"]},
        "config": {"steps": 1, "batch_size": 8, "data": {"path": "/etc"}}},
     "inputs.dataset_version_id", "give it once"),
    ("k 0 and -1", lambda ids: evaluate(ids, k=[0, -1]), "config.k.0", "greater than"),
    ("k empty", lambda ids: evaluate(ids, k=[]), "config.k", "at least 1"),
    ("a pipeline as checkpoint", lambda ids: evaluate(
        ids, inputs={"checkpoint_job_id": ids["pipeline"]}),
     "inputs.checkpoint_job_id", "leaves no checkpoint"),
    ("an unlabeled version as kNN train", lambda ids: evaluate(
        ids, inputs={"train_version_id": ids["unlabeled"]}),
     "inputs.train_version_id", "no class labels"),
    ("one version without a test split", lambda ids: {
        "kind": "evaluate", "gpus": 0, "inputs": {"checkpoint_job_id": ids["pretrain"],
                                                  "train_version_id": ids["train"]}},
     "inputs.train_version_id", "(images marked test) has no class labels"),
    ("a host path as kNN data", lambda ids: pretrain(
        ids, eval={"train": "/etc", "test": "/var"}), "config.eval.train", "never a path"),
    ("a host path as the data", lambda ids: {
        "kind": "pretrain", "gpus": 0, "config": {"data": {"path": "/srv/parts"}}},
     "config.data.path", "never a path"),
    ("a checkpoint the pipeline sets", lambda ids: {
        "kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": ids["unlabeled"]},
        "config": {"pretrain": {"steps": 1, "batch_size": 8},
                   "evaluate": {"train": f"dataset-version://{ids['train']}",
                                "test": f"dataset-version://{ids['test']}",
                                "checkpoint": f"job://{ids['pretrain']}"}}},
     "config.evaluate.checkpoint", "the pipeline sets it"),
    ("anomaly detection without good parts", lambda ids: finetune(ids, "anomaly"),
     "inputs.train_version_id", "0 images of good parts"),
    ("a finetune without a backbone", lambda ids: finetune(ids, inputs={
        "train_version_id": ids["train"], "test_version_id": ids["test"]}),
     "config.backbone", "required"),
    ("a detector of a version without boxes", lambda ids: finetune(ids, "detect"),
     "inputs.train_version_id", "no image with boxes or outlines"),
    ("a classifier of an unlabeled version", lambda ids: finetune(ids, inputs={
        "checkpoint_job_id": ids["pretrain"], "train_version_id": ids["unlabeled"],
        "test_version_id": ids["test"]}),
     "inputs.train_version_id", "no class labels"),
    ("cuda for a classifier without a GPU", lambda ids: finetune(
        ids, classify={"device": "cuda"}), "config.classify.device", "needs a GPU"),
    ("a pretrain as the model to predict with", lambda ids: {
        "kind": "predict", "gpus": 0, "inputs": {"model_job_id": ids["pretrain"],
                                                 "dataset_version_id": ids["test"]}},
     "inputs.model_job_id", "leaves no model"),
    ("a backbone in a pipeline's finetune", lambda ids: {
        "kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": ids["unlabeled"]},
        "config": {"pretrain": {"steps": 1, "batch_size": 8},
                   "finetune": {"task": "classify", "backbone": {"architecture": "resnet18"},
                                "train": f"dataset-version://{ids['train']}",
                                "test": f"dataset-version://{ids['test']}"}}},
     "config.finetune.backbone", "the pipeline's own pretrain"),
]


@pytest.mark.parametrize(("case", "body", "field", "words"), REFUSED,
                         ids=[case for case, *_ in REFUSED])
def test_a_job_that_cannot_run_is_refused_naming_the_field(setup, case, body, field, words):
    member, project = setup["member"], setup["project"]
    with member.api.session() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    # json.dumps writes NaN and Infinity as JSON's lenient readers (Python's, FastAPI's) take
    response = member.post(f"/api/v1/projects/{project['id']}/jobs",
                           content=json.dumps(body(setup)),
                           headers={"Content-Type": "application/json"})
    problem = response.json()
    assert response.status_code == 422, problem
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["detail"].startswith(f"{field}:"), problem["detail"]
    assert words in problem["detail"], problem["detail"]
    with member.api.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


def test_the_same_configs_run_when_they_fit_the_data(setup):
    member, project = setup["member"], setup["project"]
    _, dataset = setup_dataset(member, "split")
    split = labeled_version(member, dataset, {"a": 3, "b": 3}, offset=120,
                            splits=["train", "train", "test"] * 2)
    for body in (pretrain(setup, batch_size=8, memory={"size": 8}),
                 pretrain(setup, eval={"train": f"dataset-version://{setup['train']}",
                                       "test": f"dataset-version://{setup['test']}"}),
                 evaluate(setup, k=[1, 3]),
                 {"kind": "evaluate", "gpus": 0, "inputs": {  # one version, its own split
                     "checkpoint_job_id": setup["pretrain"], "train_version_id": split["id"]}},
                 finetune(setup, classify={"method": "linear"}),
                 finetune(setup, inputs={"train_version_id": split["id"]},
                          backbone={"architecture": "resnet18"}),
                 {"kind": "pipeline", "gpus": 0,
                  "inputs": {"dataset_version_id": setup["unlabeled"]},
                  "config": {"pretrain": {"steps": 1, "batch_size": 8},
                             "finetune": {"task": "classify",
                                          "train": f"dataset-version://{split['id']}"}}}):
        member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json=body)


def test_another_organizations_data_inside_a_config_is_not_found(any_api, setup):
    """C1: a reference written in the config is authorized like an input: a second
    organization naming the first's versions or jobs gets 404 and no job."""
    mallory = any_api.signup("Intruders")
    project, dataset = setup_dataset(mallory, "own")
    mallory.ok("POST", f"/api/v1/datasets/{dataset['id']}/items", files=multipart(
        neu_images(8, offset=100)))
    own = mallory.ok("POST", f"/api/v1/datasets/{dataset['id']}/versions", 201, json={})
    theirs = {"train": f"dataset-version://{setup['train']}",
              "test": f"dataset-version://{setup['test']}"}
    bodies = [
        {"kind": "pipeline", "gpus": 0, "inputs": {"dataset_version_id": own["id"]},
         "config": {"pretrain": {"steps": 1, "batch_size": 8}, "evaluate": theirs}},
        {"kind": "pretrain", "gpus": 0, "inputs": {"dataset_version_id": own["id"]},
         "config": {"steps": 1, "batch_size": 8, "eval": theirs}},
        {"kind": "evaluate", "gpus": 0, "config": {
            "checkpoint": f"job://{setup['pretrain']}", **theirs}},
    ]
    for body in bodies:
        response = mallory.post(f"/api/v1/projects/{project['id']}/jobs", json=body)
        assert response.status_code == 404, response.text
        assert response.json()["detail"].endswith("not found")
    with any_api.session() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(
            Job.project_id == uuid.UUID(project["id"]))) == 0


def test_a_version_made_before_split_statistics_is_scored_on_its_own_split(setup):
    """Versions made before their statistics counted classes per split are counted from
    their items."""
    member, project = setup["member"], setup["project"]
    _, dataset = setup_dataset(member, "older")
    older = labeled_version(member, dataset, {"a": 2, "b": 2}, offset=140,
                            splits=["train", "test"] * 2)
    with member.api.session() as session:
        version = session.get(DatasetVersion, uuid.UUID(older["id"]))
        version.stats = {key: value for key, value in version.stats.items()
                         if key != "classes_by_split"}
        session.commit()
    member.ok("POST", f"/api/v1/projects/{project['id']}/jobs", 201, json={
        "kind": "evaluate", "gpus": 0, "inputs": {"checkpoint_job_id": setup["pretrain"],
                                                  "train_version_id": older["id"]}})
