"""What each job kind takes, validated by the engine's own (torch-free) schemas.

The REST body carries the same config the ``hatchery`` CLI reads from YAML; what the CLI
gives as paths, the API gives as ids of tenant resources, written into the config as
``dataset-version://<id>`` / ``job://<id>`` references that the worker resolves to local
paths. A kind plugs in by adding one ``JobKind`` here; the endpoints do not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from api.problems import Unprocessable
from engine.schemas import KnnEvalConfig, PipelineConfig, PretrainConfig, ProbeConfig


@dataclass(frozen=True)
class JobKind:
    name: str
    schema: type[BaseModel]
    # names of the id inputs the kind needs, and how each enters the config
    inputs: dict[str, Callable[[dict[str, Any], uuid.UUID], None]]
    queue: str = "gpu.any"
    description: str = ""
    optional_inputs: frozenset[str] = frozenset()
    # runs one process per GPU (DDP under torchrun) when a job asks for several
    distributed: bool = False


def _set_path(*keys: str, scheme: str) -> Callable[[dict[str, Any], uuid.UUID], None]:
    def apply(config: dict[str, Any], value: uuid.UUID) -> None:
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = f"{scheme}://{value}"
    return apply


KINDS: dict[str, JobKind] = {
    "pretrain": JobKind(
        "pretrain", PretrainConfig,
        {"dataset_version_id": _set_path("data", "path", scheme="dataset-version")},
        description="self-supervised pretraining on a dataset version", distributed=True),
    "evaluate": JobKind(
        "evaluate", KnnEvalConfig,
        {"checkpoint_job_id": _set_path("checkpoint", scheme="job"),
         "train_version_id": _set_path("train", scheme="dataset-version"),
         "test_version_id": _set_path("test", scheme="dataset-version")},
        queue="gpu.any", description="weighted kNN of a pretrained backbone"),
    "pipeline": JobKind(
        "pipeline", PipelineConfig,
        {"dataset_version_id": _set_path("pretrain", "data", "path", scheme="dataset-version"),
         "train_version_id": _set_path("evaluate", "train", scheme="dataset-version"),
         "test_version_id": _set_path("evaluate", "test", scheme="dataset-version")},
        queue="cpu", optional_inputs=frozenset({"train_version_id", "test_version_id"}),
        description="pretrain -> evaluate (kNN, given labeled train/test versions) -> "
                    "register the backbone as a model version; each stage a child job"),
    "probe": JobKind(
        "probe", ProbeConfig, {}, queue="cpu",
        description="checks a worker: reports its host and devices"),
}


def queue_for(kind: str, gpus: int) -> str:
    """The queue a job of ``kind`` asking for ``gpus`` GPUs waits on: ``cpu``, the kind's GPU
    queue (``gpu.any``), or for a distributed job on N > 1 GPUs ``gpu.any.xN``, which only
    workers that hold N GPUs (``CUDA_VISIBLE_DEVICES=0,..,N-1``) listen on."""
    spec = KINDS[kind]
    if spec.queue == "cpu" or gpus == 0:
        return "cpu"
    if spec.distributed and gpus > 1:
        return f"{spec.queue}.x{gpus}"
    return spec.queue


def _field(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def validate_config(kind: str, inputs: dict[str, uuid.UUID], config: dict[str, Any]
                    ) -> dict[str, Any]:
    """The validated config (a plain dict) or a 422 that names the offending field."""
    spec = KINDS.get(kind)
    if spec is None:
        raise Unprocessable(f"kind: unknown job kind {kind!r}; one of {', '.join(KINDS)}")
    missing = [name for name in spec.inputs
               if name not in inputs and name not in spec.optional_inputs]
    if missing:
        raise Unprocessable(f"inputs.{missing[0]}: required for {kind} jobs")
    unknown = [name for name in inputs if name not in spec.inputs]
    if unknown:
        raise Unprocessable(f"inputs.{unknown[0]}: not an input of {kind} jobs")
    merged = {key: (dict(value) if isinstance(value, dict) else value)
              for key, value in config.items()}
    for name, apply in spec.inputs.items():
        if name in inputs:
            apply(merged, inputs[name])
    try:
        return spec.schema.model_validate(merged).model_dump(mode="json")
    except ValidationError as error:
        first = error.errors()[0]
        raise Unprocessable(f"config.{_field(first['loc'])}: {first['msg']}",
                            errors=[{"field": f"config.{_field(e['loc'])}", "message": e["msg"]}
                                    for e in error.errors()]) from None
