"""Tenant-scoped access to dataset tables (queries live here, not in the routers)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from api.datasets.models import (
    Blob,
    Dataset,
    DatasetItem,
    DatasetVersion,
    StagedUpload,
    VersionItem,
)
from api.problems import NotFound
from api.tenancy import TenantRepository


class Datasets(TenantRepository[Dataset]):
    model, noun = Dataset, "dataset"


class Blobs(TenantRepository[Blob]):
    model, noun = Blob, "image"


class Versions(TenantRepository[DatasetVersion]):
    model, noun = DatasetVersion, "dataset version"

    def next_number(self, dataset_id: uuid.UUID) -> int:
        latest = self.session.scalar(select(func.max(DatasetVersion.number))
                                     .where(DatasetVersion.dataset_id == dataset_id))
        return (latest or 0) + 1


class Uploads(TenantRepository[StagedUpload]):
    model, noun = StagedUpload, "upload"


class Items(TenantRepository[DatasetItem]):
    model, noun = DatasetItem, "item"

    def in_dataset(self, dataset_id: uuid.UUID) -> Select:
        return self.select().where(DatasetItem.dataset_id == dataset_id)

    def get_in(self, dataset_id: uuid.UUID, item_id: uuid.UUID) -> DatasetItem:
        item = self.session.scalar(self.in_dataset(dataset_id).where(DatasetItem.id == item_id))
        if item is None:
            raise NotFound(f"item {item_id} not found in dataset {dataset_id}")
        return item


class VersionItems(TenantRepository[VersionItem]):
    model, noun = VersionItem, "item"

    def in_version(self, version_id: uuid.UUID) -> Select:
        return self.select().where(VersionItem.version_id == version_id)


def filtered(query: Select, model, labeled: bool | None, class_name: str | None,
             split: str | None, is_defect: bool | None) -> Select:
    """The item listing filters, for working items and version items alike."""
    if labeled is not None:
        query = query.where(model.labeled == labeled)
    if class_name is not None:
        query = query.where(model.class_name == class_name)
    if split is not None:
        query = query.where(model.split == split)
    if is_defect is not None:
        query = query.where(model.is_defect == is_defect)
    return query
