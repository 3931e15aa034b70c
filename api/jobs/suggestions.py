"""A suggest job's result (``engine.labeling.suggest``, paths as the worker's view of the
dataset version names them) tied back to the dataset's items and their thumbnails, so the
labeling page can open each suggestion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.datasets.paths import view_path
from api.jobs.schemas import SuggestionsOut
from api.kit.problems import Conflict
from api.kit.storage import ObjectStore
from api.models.datasets import Blob, DatasetItem, DatasetVersion, VersionItem
from api.models.jobs import Job, JobStatus
from api.tenancy import Tenant
from engine.schemas.kinds import VERSION_SCHEME, parse_reference


def _references(session: Session, tenant: Tenant, version: DatasetVersion, store: ObjectStore,
                presign_seconds: int) -> dict[str, dict[str, Any]]:
    """view path -> {path, item_id, thumbnail_url} of every item of ``version``."""
    rows = session.execute(
        select(VersionItem.path, Blob.format, Blob.thumbnail_key, DatasetItem.id)
        .join(Blob, Blob.id == VersionItem.blob_id)
        .outerjoin(DatasetItem, (DatasetItem.dataset_id == version.dataset_id)
                   & (DatasetItem.path == VersionItem.path))
        .where(VersionItem.organization_id == tenant.organization_id,
               VersionItem.version_id == version.id)).all()
    return {view_path(path, image_format).as_posix(): {
        "path": path, "item_id": item_id,
        "thumbnail_url": store.presigned_get(thumbnail, presign_seconds)}
        for path, image_format, thumbnail, item_id in rows}


def suggestions_of(session: Session, tenant: Tenant, job: Job, store: ObjectStore,
                   presign_seconds: int) -> SuggestionsOut:
    """The suggestions of ``job`` (the caller's, found through ``Jobs``); 409 when it is not
    a suggest job or has not succeeded."""
    if job.kind != "suggest":
        raise Conflict(f"job {job.id} is a {job.kind} job; only suggest jobs suggest images")
    if job.status != JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; its suggestions come when it "
                       "succeeds")
    version = session.scalar(select(DatasetVersion).where(
        DatasetVersion.organization_id == tenant.organization_id,
        DatasetVersion.id == parse_reference(job.config["data"], VERSION_SCHEME)))
    if version is None:
        raise Conflict(f"the dataset version job {job.id} ranked no longer exists")
    known = _references(session, tenant, version, store, presign_seconds)

    def ref(path: str) -> dict[str, Any]:
        return known.get(path, {"path": path, "item_id": None, "thumbnail_url": None})

    result = job.result
    return SuggestionsOut(
        job_id=job.id, dataset_id=version.dataset_id, dataset_version_id=version.id,
        images=result.get("images", 0), labeled=result.get("labeled", 0),
        ranked=[{**entry, **ref(entry["path"])} for entry in result.get("ranked", [])],
        suspect_labels=[{**entry, **ref(entry["path"])}
                        for entry in result.get("suspect_labels", [])],
        near_duplicates=[{"first": ref(first), "second": ref(second),
                          "similarity": similarity}
                         for first, second, similarity in result.get("near_duplicates", [])])
