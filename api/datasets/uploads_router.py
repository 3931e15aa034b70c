"""/api/v1: getting images into a dataset.

Three ways, one set of checks (api/datasets/ingest.py):
- multipart: ``POST /datasets/{id}/items`` with one or more ``files`` parts (up to 1,000 a
  request; parts are spooled to disk, never held whole in memory);
- an archive: ``POST /datasets/{id}/archives`` with one zip or tar(.gz) ``file``;
- presigned: ``POST /datasets/{id}/uploads`` returns one PUT URL per file straight to the
  object store, then ``POST /uploads/{id}/finalize`` checks and adds them.
Every response reports each file: added, duplicate, replaced or rejected (with the reason).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile, status

from api.datasets import service
from api.datasets.archives import archive_entries
from api.datasets.ingest import ALREADY_AT_THIS_PATH, Ingestor, IngestReport
from api.datasets.label_formats import labels_from_folders
from api.datasets.paths import path_problem
from api.datasets.repository import Datasets, Items, Uploads
from api.datasets.schemas import (
    FileReportOut,
    IngestReportOut,
    UploadCreate,
    UploadOut,
    UploadTarget,
)
from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.problems import Conflict, Unprocessable
from api.models.datasets import StagedUpload
from api.tenancy import WriterDep

router = APIRouter(prefix="/api/v1", tags=["uploads"])


def report_out(report: IngestReport) -> IngestReportOut:
    return IngestReportOut(
        **{status: report.count(status) for status in
           ("added", "duplicate", "replaced", "rejected")},
        files=[FileReportOut(**vars(file)) for file in report.files])


@router.post("/datasets/{dataset_id}/items", response_model=IngestReportOut)
def upload_files(dataset_id: uuid.UUID, tenant: WriterDep, session: SessionDep,
                 store: StoreDep, settings: SettingsDep,
                 files: Annotated[list[UploadFile], File(description="image files")]
                 ) -> IngestReportOut:
    dataset = Datasets(session, tenant).get(dataset_id)
    ingestor = Ingestor(session, store, settings, tenant, dataset)

    def work() -> None:
        for upload in files:
            ingestor.add_stream(upload.filename or "unnamed", upload.file)

    return report_out(ingestor.run(work))


@router.post("/datasets/{dataset_id}/archives", response_model=IngestReportOut)
def upload_archive(dataset_id: uuid.UUID, tenant: WriterDep, session: SessionDep,
                   store: StoreDep, settings: SettingsDep,
                   file: Annotated[UploadFile, File(description="a zip or tar(.gz) archive")],
                   labels: Annotated[Literal["none", "folders"], Form(
                       description="folders: <class>/<file> labels each image with its "
                                   "folder's name")] = "none",
                   ) -> IngestReportOut:
    dataset = Datasets(session, tenant).get(dataset_id)
    ingestor = Ingestor(session, store, settings, tenant, dataset)

    def work() -> None:
        for entry in archive_entries(file.file, file.filename or "archive", settings):
            if entry.stream is None:
                ingestor.reject(entry.name, entry.refusal)
            else:
                ingestor.add_stream(entry.name, entry.stream, entry.size)

    report = report_out(ingestor.run(work))
    if labels == "folders":
        placed = [file.path for file in report.files if file.status in ("added", "replaced")
                  or file.detail == ALREADY_AT_THIS_PATH]  # an upload again labels too
        items = Items(session, tenant).at_paths(dataset_id, placed)
        report.labels = service.apply_imported(session, items, labels_from_folders(placed),
                                               "folders")
    return report


@router.post("/datasets/{dataset_id}/uploads", status_code=status.HTTP_201_CREATED,
             response_model=UploadOut)
def start_upload(dataset_id: uuid.UUID, body: UploadCreate, tenant: WriterDep,
                 session: SessionDep, store: StoreDep, settings: SettingsDep) -> UploadOut:
    """Presigned PUT URLs, one per file, valid for ``presign_seconds``; then finalize."""
    Datasets(session, tenant).require(dataset_id)
    for index, entry in enumerate(body.files):
        problem = path_problem(entry.name)
        if problem:
            raise Unprocessable(f"files.{index}.name: {problem}")
        if entry.size > settings.max_image_bytes:
            raise Unprocessable(f"files.{index}.size: over the {settings.max_image_bytes}-byte "
                                f"limit for one image")
    upload = Uploads(session, tenant).add(StagedUpload(dataset_id=dataset_id))
    prefix = f"{tenant.organization_id}/staging/{upload.id}"
    upload.files = [{"name": entry.name, "size": entry.size, "key": f"{prefix}/{index}"}
                    for index, entry in enumerate(body.files)]
    targets = [UploadTarget(name=f["name"], url=store.presigned_put(f["key"],
                                                                   settings.presign_seconds))
               for f in upload.files]
    return UploadOut(id=upload.id, expires_in=settings.presign_seconds, files=targets)


@router.post("/uploads/{upload_id}/finalize", response_model=IngestReportOut)
def finalize_upload(upload_id: uuid.UUID, tenant: WriterDep, session: SessionDep,
                    store: StoreDep, settings: SettingsDep) -> IngestReportOut:
    upload = Uploads(session, tenant).get(upload_id)
    if upload.status != "open":
        raise Conflict(f"upload {upload_id} is already {upload.status}")
    dataset = Datasets(session, tenant).get(upload.dataset_id)
    ingestor = Ingestor(session, store, settings, tenant, dataset)

    def work() -> None:
        for entry in upload.files:
            if not store.exists(entry["key"]):
                ingestor.reject(entry["name"], "never uploaded to its URL")
                continue
            with store.open(entry["key"]) as stream:
                ingestor.add_stream(entry["name"], stream, entry["size"])
        upload.status = "finalized"

    report = ingestor.run(work)
    for entry in upload.files:
        store.delete(entry["key"])
    return report_out(report)


@router.delete("/uploads/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def abort_upload(upload_id: uuid.UUID, tenant: WriterDep, session: SessionDep,
                 store: StoreDep) -> None:
    """Drop an unfinished presigned upload and whatever was already PUT for it."""
    upload = Uploads(session, tenant).get(upload_id)
    for entry in upload.files:
        store.delete(entry["key"])
    upload.status = "aborted"
