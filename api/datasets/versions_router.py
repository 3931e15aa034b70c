"""/api/v1: immutable dataset versions, their items, and their export as a zip."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from api.datasets import service
from api.datasets.export import ExportFormat, stream_zip
from api.datasets.repository import Datasets, ItemListing, VersionItems, Versions
from api.datasets.schemas import ItemOut, Split, VersionCreate, VersionOut
from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.pagination import Page, PageDep
from api.models.datasets import DatasetVersion, VersionItem
from api.tenancy import TenantDep, WriterDep

router = APIRouter(prefix="/api/v1", tags=["dataset versions"])


@router.post("/datasets/{dataset_id}/versions", status_code=status.HTTP_201_CREATED,
             response_model=VersionOut)
def create_version(dataset_id: uuid.UUID, body: VersionCreate, tenant: WriterDep,
                   session: SessionDep) -> DatasetVersion:
    """Freeze the current items and labels; jobs train on versions, never on drafts."""
    Datasets(session, tenant).require(dataset_id)
    return service.create_version(session, tenant, dataset_id, body.note)


@router.get("/datasets/{dataset_id}/versions", response_model=Page[VersionOut])
def list_versions(dataset_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                  page: PageDep) -> Page[VersionOut]:
    Datasets(session, tenant).require(dataset_id)
    return Versions(session, tenant).of_dataset(dataset_id, page)


@router.get("/dataset-versions/{version_id}", response_model=VersionOut)
def get_version(version_id: uuid.UUID, tenant: TenantDep, session: SessionDep
                ) -> DatasetVersion:
    return Versions(session, tenant).get(version_id)


@router.get("/dataset-versions/{version_id}/items", response_model=Page[ItemOut])
def list_version_items(version_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                       store: StoreDep, settings: SettingsDep, page: PageDep,
                       labeled: bool | None = None,
                       class_name: Annotated[str | None, Query(max_length=200)] = None,
                       split: Split | None = None, is_defect: bool | None = None
                       ) -> Page[ItemOut]:
    filters = {"labeled": labeled, "class_name": class_name, "split": split,
               "is_defect": is_defect}
    listing = ItemListing(session, tenant, VersionItem)
    rows, total = listing.page(version_id, filters, page.offset, page.limit)
    if not rows:  # an empty page, or no such version in this organization (404)
        Versions(session, tenant).require(version_id)
    items = [service.listed_item(row, store, settings) for row in rows]
    return Page(items=items, total=total, offset=page.offset, limit=page.limit)


@router.get("/dataset-versions/{version_id}/export",
            responses={200: {"content": {"application/zip": {}}}})
def export_version(version_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                   store: StoreDep, format: ExportFormat = "folders") -> StreamingResponse:
    """The version's images and labels as a zip: one folder per class, or COCO."""
    version = Versions(session, tenant).get(version_id)
    rows = VersionItems(session, tenant).all_in(version_id)
    items = [{"path": item.path, "sha256": blob.sha256, "storage_key": blob.storage_key,
              "width": blob.width, "height": blob.height, "class_name": item.class_name,
              "is_defect": item.is_defect, "annotations": item.annotations}
             for item, blob in service.with_blobs(session, rows)]
    filename = f"dataset-{version.dataset_id}-v{version.number}-{format}.zip"
    return StreamingResponse(stream_zip(items, store, format), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
