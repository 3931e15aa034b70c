"""docker-compose.yml: valid against the Compose Specification, and wired the way we deploy.

The schema is vendored (tests/data/compose-spec.json, see tests/data/README.md): no Docker
engine and no network at test time. ``jsonschema_rs`` comes with schemathesis (dev extra).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"

APP_SERVICES = ("migrate", "api", "worker-gpu", "worker-cpu", "predictor")
HEALTHCHECKED = ("postgres", "redis", "s3", "api")
# ${VAR}, ${VAR:-default}, ${VAR:?error}; "$${" is an escaped dollar, not a reference.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def env_example_names() -> list[str]:
    return [m.group(1) for line in ENV_EXAMPLE.read_text().splitlines()
            if (m := ASSIGNMENT.match(line))]


def test_compose_file_validates_against_the_compose_spec(validator, compose):
    assert errors(validator, compose) == []


@pytest.mark.parametrize("breakage", ["ports_not_a_list", "unknown_top_level_key",
                                      "unknown_service_key"])
def test_validator_rejects_a_broken_compose_file(validator, compose, breakage):
    broken = copy.deepcopy(compose)
    if breakage == "ports_not_a_list":
        broken["services"]["api"]["ports"] = "abc"
    elif breakage == "unknown_top_level_key":
        broken["servics"] = {}
    else:
        broken["services"]["redis"]["healthchek"] = {"test": ["CMD", "true"]}
    assert errors(validator, broken)


def test_every_service_has_a_build_or_a_pinned_image(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            build = service["build"]
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) \
                else "Dockerfile"
            assert (ROOT / dockerfile).is_file(), f"{name}: {dockerfile} is missing"
            continue
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"


def test_app_services_read_the_env_file(compose):
    for name in APP_SERVICES:
        env_file = compose["services"][name]["env_file"]
        assert ".env" in ([env_file] if isinstance(env_file, str) else env_file), name


def test_api_runs_uvicorn_after_the_migration(compose):
    api = compose["services"]["api"]
    command = command_of(api)
    assert command[:2] == ["uvicorn", "api.main:app"]
    assert "--proxy-headers" in command
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["depends_on"]["s3"]["condition"] == "service_healthy"


def test_migrate_runs_alembic_upgrade_head_once(compose):
    migrate = compose["services"]["migrate"]
    assert command_of(migrate) == ["alembic", "upgrade", "head"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(("name", "queue"), [("worker-gpu", "gpu.any"), ("worker-cpu", "cpu"),
                                            ("predictor", "predict")])
def test_workers_run_python_m_worker_on_their_queue(compose, name, queue):
    command = command_of(compose["services"][name])
    assert command[:3] == ["python", "-m", "worker"]
    queues = command[command.index("--queues") + 1].split(",")
    assert queue in queues
    assert "--name" in command


def test_gpu_worker_reserves_an_nvidia_gpu(compose):
    worker = compose["services"]["worker-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"]
               and ("count" in d or "device_ids" in d) for d in devices)
    assert worker["environment"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert worker["build"]["dockerfile"] == "Dockerfile.gpu"
    assert any(v.endswith(":/var/cache/hatchery") for v in worker["volumes"])


@pytest.mark.parametrize("name", HEALTHCHECKED)
def test_service_has_a_healthcheck(compose, name):
    healthcheck = compose["services"][name]["healthcheck"]
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")


def test_every_referenced_variable_is_in_env_example():
    referenced = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert referenced, "the compose file should take its secrets from .env"
    assert referenced - set(env_example_names()) == set()


def test_env_example_documents_every_variable():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            assert index > 0 and lines[index - 1].startswith("#"), f"undocumented: {line}"
    names = env_example_names()
    assert len(names) == len(set(names))
    for required in ("HATCHERY_DATABASE_URL", "HATCHERY_BROKER_URL", "HATCHERY_SECRET_KEY",
                     "HATCHERY_S3_ENDPOINT", "HATCHERY_WORKER_CACHE_BYTES"):
        assert required in names
