"""Every job kind, declared once: the API validates by this table, the worker runs by it.

A kind names its config schema, the tenant resources its config refers to, the queue its
jobs wait on, whether a job on several GPUs runs one process per GPU (DDP under torchrun),
what it leaves (a backbone ``checkpoint``, a ``model`` directory of a defect model), and —
for a pipeline — the kinds of its stages. Torch-free.

Where the ``hatchery`` CLI takes paths, a platform job names tenant resources by id: a
config field that reads data (``data.path``, ``eval.train``, ``checkpoint``, ...) holds a
reference, ``dataset-version://<id>`` or ``job://<id>``, and never a host path. The API
authorizes every reference at submit; the worker resolves each one, within the job's own
organization, to a local folder or file before the engine sees the config: a dataset version
to a folder of its images, a job to what it left (its checkpoint file or model directory).

    job = validate_job("evaluate", inputs={"checkpoint_job_id": id1, ...}, config={"k": [20]})
    job.config        # the validated config, references written in
    job.references    # [(Reference(("checkpoint",), "job", ...), id1), ...]
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from engine.errors import JobConfigError
from engine.schemas.downstream_jobs import (
    ExportJobConfig,
    FinetuneJobConfig,
    PredictJobConfig,
)
from engine.schemas.errors import field_problems
from engine.schemas.eval import KnnEvalConfig
from engine.schemas.labeling import SuggestJobConfig
from engine.schemas.pipeline import PipelineConfig, ProbeConfig
from engine.schemas.planning import PlanJobConfig
from engine.schemas.pretrain import PretrainConfig

VERSION_SCHEME, JOB_SCHEME = "dataset-version", "job"
Scheme = Literal["dataset-version", "job"]
# What a job leaves that another job may read: a backbone checkpoint, a model directory.
Artifact = Literal["checkpoint", "model"]
# Queues: every GPU worker listens on GPU_QUEUE; a worker holding N GPUs also on
# GPU_QUEUE.xN (distributed jobs on N GPUs); CPU work waits on CPU_QUEUE.
GPU_QUEUE, CPU_QUEUE = "gpu.any", "cpu"


@dataclass(frozen=True)
class Reference:
    """A config field that names a tenant resource.

    ``path``: where in the config (``("evaluate", "train")``); ``input``: the REST input
    that may fill it (``train_version_id``); ``labeled``: a dataset version whose items
    must carry class labels; ``artifact``: what a referenced job must have left;
    ``filled_by_pipeline``: the pipeline writes it (its pretrain stage's job) and a
    submitted config must leave it out. A reference whose parent section is absent (an
    optional stage left out) is not needed.
    """

    path: tuple[str, ...]
    scheme: Scheme
    input: str | None = None
    required: bool = True
    labeled: bool = False
    artifact: Artifact = "checkpoint"
    filled_by_pipeline: bool = False

    @property
    def field(self) -> str:
        return ".".join(self.path)

    @property
    def noun(self) -> str:
        return "dataset version" if self.scheme == VERSION_SCHEME else "job"

    def under(self, section: str, **changes: Any) -> Reference:
        """The same reference inside a pipeline's ``section`` (a stage's config)."""
        return replace(self, path=(section, *self.path), **changes)


def reference_to(scheme: Scheme, id_: uuid.UUID | str) -> str:
    """``dataset-version://<id>`` / ``job://<id>``."""
    return f"{scheme}://{id_}"


def parse_reference(value: Any, scheme: Scheme) -> uuid.UUID | None:
    """The id of a ``<scheme>://<id>`` string, None for anything else."""
    prefix = f"{scheme}://"
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    try:
        return uuid.UUID(value.removeprefix(prefix))
    except ValueError:
        return None


@dataclass(frozen=True)
class JobKind:
    name: str
    schema: type[BaseModel]
    description: str
    references: tuple[Reference, ...] = ()
    queue: Literal["gpu", "cpu"] = "gpu"
    distributed: bool = False
    produces_checkpoint: bool = False
    produces_model: bool = False  # a model directory (engine.downstream.model_dir)
    # a pipeline: the kinds of its stages, each run as a child job, in this order
    stages: tuple[str, ...] = ()
    # config fields that name a file on the engine's host (the CLI reads them); a platform
    # job names tenant resources only, so it must leave them out
    host_files: tuple[tuple[str, ...], ...] = ()

    @property
    def inputs(self) -> dict[str, Reference]:
        """REST input name -> the reference it fills."""
        return {ref.input: ref for ref in self.references if ref.input is not None}

    def leaves(self, artifact: Artifact) -> bool:
        """Whether a job of this kind leaves ``artifact`` for others to read."""
        return self.produces_checkpoint if artifact == "checkpoint" else self.produces_model

    @property
    def orchestrates(self) -> bool:
        """A pipeline holds no worker: it starts its stages as child jobs."""
        return bool(self.stages)

    def queue_for(self, gpus: int) -> str:
        """``cpu``, the GPU queue, or for a distributed job on N > 1 GPUs ``gpu.any.xN``
        (only workers that hold N GPUs listen there)."""
        if self.queue == "cpu" or gpus == 0:
            return CPU_QUEUE
        return f"{GPU_QUEUE}.x{gpus}" if self.distributed and gpus > 1 else GPU_QUEUE


_PRETRAIN_REFERENCES = (
    Reference(("data", "path"), VERSION_SCHEME, input="dataset_version_id"),
    Reference(("eval", "train"), VERSION_SCHEME, required=False, labeled=True),
    Reference(("eval", "test"), VERSION_SCHEME, required=False, labeled=True),
)
_EVALUATE_REFERENCES = (
    Reference(("checkpoint",), JOB_SCHEME, input="checkpoint_job_id"),
    Reference(("train",), VERSION_SCHEME, input="train_version_id", labeled=True),
    # left out: the train version's own images marked test
    Reference(("test",), VERSION_SCHEME, input="test_version_id", required=False,
              labeled=True),
)


_FINETUNE_REFERENCES = (
    # left out: a random-init baseline (config.backbone.architecture)
    Reference(("backbone", "checkpoint"), JOB_SCHEME, input="checkpoint_job_id",
              required=False),
    Reference(("train",), VERSION_SCHEME, input="train_version_id", labeled=True),
    Reference(("test",), VERSION_SCHEME, input="test_version_id", required=False,
              labeled=True),
    Reference(("unlabeled",), VERSION_SCHEME, input="unlabeled_version_id", required=False),
)
_MODEL = Reference(("model",), JOB_SCHEME, input="model_job_id", artifact="model")


def _pipeline_references() -> tuple[Reference, ...]:
    """The stages' references: each later stage's backbone is the pipeline's pretrain; the
    REST inputs fill the pretrain's data and the evaluation's train/test versions."""
    pretrain = tuple(ref.under("pretrain") for ref in _PRETRAIN_REFERENCES)
    finetune = tuple(ref.under("finetune", input=None,
                               filled_by_pipeline=ref.scheme == JOB_SCHEME)
                     for ref in _FINETUNE_REFERENCES)
    evaluate = tuple(
        ref.under("evaluate", input=None, filled_by_pipeline=True) if ref.scheme == JOB_SCHEME
        else ref.under("evaluate") for ref in _EVALUATE_REFERENCES)
    return pretrain + finetune + evaluate


KINDS: dict[str, JobKind] = {kind.name: kind for kind in (
    JobKind("pretrain", PretrainConfig, "self-supervised pretraining on a dataset version",
            _PRETRAIN_REFERENCES, distributed=True, produces_checkpoint=True,
            host_files=(("data", "groups"),)),
    JobKind("evaluate", KnnEvalConfig, "weighted kNN of a pretrained backbone",
            _EVALUATE_REFERENCES),
    JobKind("finetune", FinetuneJobConfig,
            "a defect model on a backbone: few-label classification (linear probe, "
            "supervised, FixMatch), good-only anomaly detection (PatchCore), or "
            "semi-supervised detection / segmentation (Faster / Mask R-CNN), measured on "
            "labeled test images", _FINETUNE_REFERENCES, produces_model=True),
    JobKind("predict", PredictJobConfig,
            "a finetuned model on every image of a dataset version; predictions as JSON "
            "lines",
            (_MODEL, Reference(("data",), VERSION_SCHEME, input="dataset_version_id"))),
    JobKind("export", ExportJobConfig,
            "a finetuned model as ONNX or TorchScript, preprocessing baked in, checked "
            "against the model itself", (_MODEL,), queue="cpu"),
    JobKind("plan", PlanJobConfig,
            "analyze a dataset version and plan the pretraining and the defect model for a "
            "task and a time budget; the plan, its reasons and an estimate as the result",
            (Reference(("data",), VERSION_SCHEME, input="dataset_version_id"),), queue="cpu"),
    JobKind("suggest", SuggestJobConfig,
            "which images of a dataset version to label next (coverage and uncertainty in a "
            "backbone's embedding space), labels to check, near duplicates",
            (Reference(("data",), VERSION_SCHEME, input="dataset_version_id"),
             Reference(("checkpoint",), JOB_SCHEME, input="checkpoint_job_id")), queue="cpu"),
    JobKind("pipeline", PipelineConfig,
            "(plan: auto: analyze and plan ->) pretrain -> finetune (a defect model on the "
            "pretrained backbone) -> evaluate (kNN of the backbone) -> register the "
            "finetuned model (or the backbone) as a model version; each stage a child job",
            _pipeline_references(), queue="cpu",
            stages=("plan", "pretrain", "finetune", "evaluate"),
            host_files=(("pretrain", "data", "groups"),)),
    JobKind("probe", ProbeConfig, "checks a worker: reports its host and devices",
            queue="cpu"),
)}


def kind_of(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise JobConfigError("kind", f"unknown job kind {name!r}; one of "
                                     f"{', '.join(KINDS)}") from None


@dataclass
class ValidatedJob:
    kind: JobKind
    config: dict[str, Any]  # plain JSON, references written in
    references: list[tuple[Reference, uuid.UUID]] = field(default_factory=list)
    inputs: frozenset[str] = frozenset()  # the REST inputs given

    def where(self, reference: Reference) -> str:
        """Where the submitter gave ``reference``: ``inputs.<name>`` or ``config.<field>``."""
        if reference.input is not None and reference.input in self.inputs:
            return f"inputs.{reference.input}"
        return f"config.{reference.field}"

    def reference(self, input_name: str) -> uuid.UUID | None:
        """The id behind a REST input's reference (e.g. ``dataset_version_id``)."""
        return next((id_ for ref, id_ in self.references if ref.input == input_name), None)


def _node(config: dict[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any] | None, str]:
    """(the dict holding ``path``'s last key, that key); None when a parent is absent."""
    node: Any = config
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None, path[-1]
    return (node if isinstance(node, dict) else None), path[-1]


def _with_inputs(kind: JobKind, config: dict[str, Any], inputs: dict[str, uuid.UUID]
                 ) -> dict[str, Any]:
    """A copy of ``config`` with each input's reference written where it belongs."""
    for name in inputs:
        if name not in kind.inputs:
            raise JobConfigError(f"inputs.{name}", f"not an input of {kind.name} jobs; they "
                                 f"take {', '.join(sorted(kind.inputs)) or 'none'}")
    merged = _copy(config)
    for name, value in inputs.items():
        reference = kind.inputs[name]
        holder, key = _node(merged, reference.path)
        if holder is not None and holder.get(key) is not None:
            raise JobConfigError(f"inputs.{name}", f"config.{reference.field} names the "
                                 f"{reference.noun} too: give it once")
        node = merged
        for key in reference.path[:-1]:
            child = node.get(key)
            node[key] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[reference.path[-1]] = reference_to(reference.scheme, value)
    return merged


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def references_in(kind: JobKind, config: dict[str, Any]
                  ) -> Iterator[tuple[Reference, uuid.UUID | None, Any]]:
    """(reference, id or None, raw value) of every reference whose section is present."""
    for reference in kind.references:
        node, key = _node(config, reference.path)
        if node is None:
            continue
        value = node.get(key)
        yield reference, parse_reference(value, reference.scheme), value


def validate_job(kind_name: str, inputs: dict[str, uuid.UUID], config: dict[str, Any]
                 ) -> ValidatedJob:
    """The config validated by the kind's schema with the inputs' references written in;
    every field that reads data holds a reference. Raises ``JobConfigError``."""
    kind = kind_of(kind_name)
    if not isinstance(config, dict):
        raise JobConfigError("config", "must be an object")
    merged = _with_inputs(kind, config, inputs)
    try:
        validated = kind.schema.model_validate(merged).model_dump(mode="json")
    except ValidationError as error:
        problems = field_problems(error, "config")
        raise JobConfigError(*problems[0], problems=problems) from None
    for path in kind.host_files:
        holder, key = _node(validated, path)
        if holder is not None and holder.get(key) is not None:
            raise JobConfigError(f"config.{'.'.join(path)}", "names a file on the engine's "
                                 "host, which the hatchery CLI reads; platform jobs read "
                                 "tenant resources only: leave it out")
    job = ValidatedJob(kind, validated, inputs=frozenset(inputs))
    for reference, id_, value in references_in(kind, validated):
        where = job.where(reference)
        if reference.filled_by_pipeline:
            if value is not None:
                raise JobConfigError(where, "the pipeline sets it (its pretrain stage's job); "
                                            "leave it out")
            continue
        if value is None:
            if reference.required:
                given_as = f"inputs.{reference.input} or " if reference.input else ""
                raise JobConfigError(where, f"required: a {reference.noun} "
                                            f"({given_as}{reference.scheme}://<id>)")
            continue
        if id_ is None:
            raise JobConfigError(where, f"must name a {reference.noun} as "
                                        f"{reference.scheme}://<id>; platform jobs read tenant "
                                        "resources only, never a path")
        job.references.append((reference, id_))
    return job
