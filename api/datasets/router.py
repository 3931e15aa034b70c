"""/api/v1: datasets, their items and labels, label import, statistics."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from api import audit
from api.datasets import service
from api.datasets.repository import Datasets, ItemListing, Items
from api.datasets.schemas import (
    DatasetCreate,
    DatasetOut,
    DatasetUpdate,
    ItemOut,
    LabelImportReport,
    Labels,
    Split,
)
from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.pagination import Page, PageDep
from api.kit.problems import Conflict, TooLarge
from api.kit.responses import json_response
from api.models.datasets import Dataset, DatasetItem
from api.projects.repository import Projects
from api.tenancy import AdminDep, TenantDep, WriterDep

router = APIRouter(prefix="/api/v1", tags=["datasets"])
MAX_LABEL_FILE_BYTES = 256 * 1024 * 1024


@router.post("/projects/{project_id}/datasets", status_code=status.HTTP_201_CREATED,
             response_model=DatasetOut)
def create(project_id: uuid.UUID, body: DatasetCreate, tenant: WriterDep,
           session: SessionDep) -> Dataset:
    Projects(session, tenant).require(project_id)
    datasets = Datasets(session, tenant)
    if datasets.named_in(project_id, body.name) is not None:
        raise Conflict(f"the project already has a dataset named {body.name!r}")
    return datasets.add(Dataset(project_id=project_id, name=body.name,
                                description=body.description))


@router.get("/projects/{project_id}/datasets", response_model=Page[DatasetOut])
def list_datasets(project_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
                  page: PageDep) -> Page[DatasetOut]:
    Projects(session, tenant).require(project_id)
    return Datasets(session, tenant).in_project(project_id, page)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
def get(dataset_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> Dataset:
    return Datasets(session, tenant).get(dataset_id)


@router.patch("/datasets/{dataset_id}", response_model=DatasetOut)
def update(dataset_id: uuid.UUID, body: DatasetUpdate, tenant: WriterDep,
           session: SessionDep) -> Dataset:
    dataset = Datasets(session, tenant).get(dataset_id)
    for field, value in body.model_dump(exclude_none=True).items():
        setattr(dataset, field, value)
    return dataset


@router.delete("/datasets/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(dataset_id: uuid.UUID, tenant: AdminDep, session: SessionDep) -> None:
    datasets = Datasets(session, tenant)
    dataset = datasets.get(dataset_id)
    datasets.delete(dataset)
    audit.record(session, "dataset.deleted", organization_id=tenant.organization_id,
                 principal=tenant.principal, target_type="dataset", target_id=dataset_id,
                 name=dataset.name)


@router.get("/datasets/{dataset_id}/items", response_model=Page[ItemOut])
def list_items(dataset_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
               store: StoreDep, settings: SettingsDep, page: PageDep,
               labeled: bool | None = None,
               class_name: Annotated[str | None, Query(max_length=200)] = None,
               split: Split | None = None, is_defect: bool | None = None) -> Response:
    """Items with pagination and filters (labeled, class, split, good/defect)."""
    filters = {"labeled": labeled, "class_name": class_name, "split": split,
               "is_defect": is_defect}
    listing = ItemListing(session, tenant, DatasetItem)
    rows, total = listing.page(dataset_id, filters, page.offset, page.limit)
    if not rows:  # an empty page, or no such dataset in this organization (404)
        Datasets(session, tenant).require(dataset_id)
    items = [service.listed_item(row, store, settings) for row in rows]
    return json_response(Page(items=items, total=total, offset=page.offset, limit=page.limit))


@router.get("/datasets/{dataset_id}/items/{item_id}", response_model=ItemOut)
def get_item(dataset_id: uuid.UUID, item_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
             store: StoreDep, settings: SettingsDep) -> ItemOut:
    item = Items(session, tenant).get_in(dataset_id, item_id)
    return service.item_out(item, service.blob_of(session, tenant, item.blob_id), store,
                            settings)


@router.get("/datasets/{dataset_id}/items/{item_id}/image")
def image_url(dataset_id: uuid.UUID, item_id: uuid.UUID, tenant: TenantDep,
              session: SessionDep, store: StoreDep, settings: SettingsDep) -> dict[str, str]:
    """A presigned URL of the original image."""
    item = Items(session, tenant).get_in(dataset_id, item_id)
    blob = service.blob_of(session, tenant, item.blob_id)
    return {"url": store.presigned_get(blob.storage_key, settings.presign_seconds,
                                       filename=item.path.rsplit("/", 1)[-1])}


@router.put("/datasets/{dataset_id}/items/{item_id}/labels", response_model=ItemOut)
def put_labels(dataset_id: uuid.UUID, item_id: uuid.UUID, body: Labels, tenant: WriterDep,
               session: SessionDep, store: StoreDep, settings: SettingsDep) -> ItemOut:
    item = Items(session, tenant).get_in(dataset_id, item_id)
    service.set_labels(session, item, body)
    return service.item_out(item, service.blob_of(session, tenant, item.blob_id), store,
                            settings)


@router.delete("/datasets/{dataset_id}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(dataset_id: uuid.UUID, item_id: uuid.UUID, tenant: WriterDep,
                session: SessionDep) -> None:
    items = Items(session, tenant)
    items.delete(items.get_in(dataset_id, item_id))


@router.post("/datasets/{dataset_id}/labels/import", response_model=LabelImportReport)
def import_labels(dataset_id: uuid.UUID, tenant: WriterDep, session: SessionDep,
                  file: Annotated[UploadFile, File(description="COCO JSON, VOC XML/zip, a zip "
                                                               "of YOLO .txt files, or a CSV")],
                  format: Annotated[Literal["coco", "voc", "yolo", "csv"], Form()]
                  ) -> LabelImportReport:
    """Bulk labels; images are matched by path, file name or (YOLO) file stem. A CSV has a
    header with ``path`` and any of ``class_name``, ``is_defect``, ``split``."""
    Datasets(session, tenant).require(dataset_id)
    data = file.file.read(MAX_LABEL_FILE_BYTES + 1)
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise TooLarge(f"label files are limited to {MAX_LABEL_FILE_BYTES} bytes")
    return service.import_labels(session, tenant, dataset_id, format, data,
                                 file.filename or "labels")


@router.get("/datasets/{dataset_id}/stats")
def stats(dataset_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> dict:
    """Counts, bytes, label counts and class balance of the current items."""
    Datasets(session, tenant).require(dataset_id)
    return service.statistics(session, Items(session, tenant).all_in(dataset_id))
