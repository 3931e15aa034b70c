"""Small builders shared by the integration tests."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from api.models.jobs import Job, JobStatus
from tests.conftest import SHARED_DATA

NEU = SHARED_DATA / "neu-det"


# A pretrain config that fits a version of two images: a batch of both, no ghost batches.
TWO_IMAGE_PRETRAIN = {"steps": 1, "batch_size": 2, "runtime": {"batchnorm_leak_fix": "none"}}


def neu_images(count: int, offset: int = 0) -> list[Path]:
    return sorted((NEU / "IMAGES").glob("*.jpg"))[offset:offset + count]


def png_bytes(value: int = 0, size: tuple[int, int] = (32, 32), mode: str = "L") -> bytes:
    out = io.BytesIO()
    array = np.full(size[::-1], value, np.uint16 if mode == "I;16" else np.uint8)
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def multipart(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in paths]


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def setup_dataset(member, name: str = "d") -> tuple[dict, dict]:
    project = member.ok("POST", "/api/v1/projects", 201, json={"name": f"p-{name}"})
    dataset = member.ok("POST", f"/api/v1/projects/{project['id']}/datasets", 201,
                        json={"name": name})
    return project, dataset


def fetch(member, url: str):
    """GET a presigned URL: from the S3 server, or from the API's own /objects route."""
    import httpx

    base = member.api.settings.public_url
    if url.startswith(base):
        return member.api.client.get(url[len(base):])
    return httpx.get(url)


def mark_succeeded(api, job_id: str, **values) -> None:
    """Mark a recorded job succeeded with ``values`` (kind, config, result, artifacts), as a
    worker would have left it."""
    with api.session() as session:
        row = session.get(Job, uuid.UUID(job_id))
        row.status = JobStatus.succeeded
        for name, value in values.items():
            setattr(row, name, value)
        session.commit()
