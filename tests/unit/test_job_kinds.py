"""The job-kind table: one declaration per kind, references in place of paths."""

from __future__ import annotations

import uuid

import pytest

from engine.errors import JobConfigError
from engine.schemas.kinds import KINDS, validate_job


def string_fields(schema: dict, defs: dict, path: tuple[str, ...] = ()) -> set[str]:
    """Dotted names of the free-text fields of a JSON schema (enums are not free text)."""
    found: set[str] = set()
    if "$ref" in schema:
        return string_fields(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path)
    for option in schema.get("anyOf", []):
        found |= string_fields(option, defs, path)
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        found.add(".".join(path))
    for name, child in schema.get("properties", {}).items():
        found |= string_fields(child, defs, (*path, name))
    return found


# Free text that is not a place to read data from.
NOT_DATA = {"model_name"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_free_text_field_is_a_declared_reference(name):
    """A new path-like field added to a schema without a reference would reach the worker as
    a host path: it must be declared in the kind's references, or as a host file the
    platform refuses (or named here as not data)."""
    kind = KINDS[name]
    schema = kind.schema.model_json_schema()
    fields = string_fields(schema, schema.get("$defs", {}))
    declared = ({reference.field for reference in kind.references}
                | {".".join(path) for path in kind.host_files})
    assert fields - NOT_DATA == declared


def test_inputs_write_references_and_paths_are_refused():
    version = uuid.uuid4()
    job = validate_job("pretrain", {"dataset_version_id": version}, {"steps": 3})
    assert job.config["data"]["path"] == f"dataset-version://{version}"
    assert [(ref.field, id_) for ref, id_ in job.references] == [("data.path", version)]
    assert job.where(job.references[0][0]) == "inputs.dataset_version_id"
    with pytest.raises(JobConfigError, match=r"config\.eval\.train: must name a dataset version"):
        validate_job("pretrain", {"dataset_version_id": version},
                     {"eval": {"train": "../../etc", "test": "/tmp"}})
    with pytest.raises(JobConfigError, match=r"inputs\.dataset_version_id: config\.data"):
        validate_job("pretrain", {"dataset_version_id": version}, {"data": {"path": "/etc"}})
    with pytest.raises(JobConfigError, match=r"inputs\.train_version_id: not an input"):
        validate_job("pretrain", {"train_version_id": version}, {})
    with pytest.raises(JobConfigError, match=r"config\.data: Field required"):
        validate_job("pretrain", {}, {})
    with pytest.raises(JobConfigError, match=r"config.checkpoint: required: a job \(inputs"):
        validate_job("evaluate", {"train_version_id": version, "test_version_id": version}, {})


def test_a_pipeline_declares_its_stages_references_under_their_sections():
    pipeline = KINDS["pipeline"]
    assert {ref.field for ref in pipeline.references} == {
        "pretrain.data.path", "pretrain.eval.train", "pretrain.eval.test",
        "finetune.backbone.checkpoint", "finetune.train", "finetune.test",
        "finetune.unlabeled", "evaluate.checkpoint", "evaluate.train", "evaluate.test"}
    assert [ref.field for ref in pipeline.references if ref.filled_by_pipeline] == [
        "finetune.backbone.checkpoint", "evaluate.checkpoint"]
    assert all(KINDS[stage].queue for stage in pipeline.stages) and pipeline.orchestrates


def test_a_finetune_names_its_backbone_and_data_by_reference_and_its_models_are_read_whole():
    version, pretrain = uuid.uuid4(), uuid.uuid4()
    job = validate_job("finetune", {"checkpoint_job_id": pretrain, "train_version_id": version},
                       {"task": "anomaly", "anomaly": {"bank_size": 64}})
    assert job.config["backbone"]["checkpoint"] == f"job://{pretrain}"
    assert job.config["anomaly"]["bank_size"] == 64 and job.config["test"] is None
    with pytest.raises(JobConfigError, match=r"config\.train: must name a dataset version"):
        validate_job("finetune", {}, {"task": "classify", "train": "/srv/parts",
                                      "backbone": {"architecture": "resnet18"}})
    with pytest.raises(JobConfigError, match="leave unlabeled out"):
        validate_job("finetune", {"train_version_id": version,
                                  "unlabeled_version_id": version},
                     {"task": "anomaly", "backbone": {"architecture": "resnet18"}})
    predict = validate_job("predict", {"model_job_id": pretrain, "dataset_version_id": version},
                           {})
    assert [ref.field for ref, _ in predict.references] == ["model", "data"]
    assert predict.references[0][0].artifact == "model"
    assert KINDS["finetune"].leaves("model") and not KINDS["finetune"].leaves("checkpoint")
    assert KINDS["pretrain"].leaves("checkpoint") and not KINDS["export"].leaves("model")


def test_a_part_is_good_or_defective_by_its_flag_else_by_its_class():
    from engine.schemas.finetune import part_condition

    assert part_condition("scratch", False) == "good"  # the flag wins
    assert part_condition(None, True) == "defect"
    assert part_condition("good", None) == "good"
    assert part_condition("scratch", None) == "defect"
    assert part_condition(None, None) is None
