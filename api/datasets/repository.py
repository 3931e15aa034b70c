"""Tenant-scoped access to dataset tables (queries live here, not in the routers)."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Row, Select, bindparam, func, select
from sqlalchemy.orm import Session

from api.kit.pagination import Page, PageParams
from api.kit.problems import NotFound
from api.models.datasets import (
    Blob,
    Dataset,
    DatasetItem,
    DatasetVersion,
    StagedUpload,
    VersionItem,
)
from api.tenancy import Tenant, TenantRepository


class Datasets(TenantRepository[Dataset]):
    model, noun = Dataset, "dataset"

    def named_in(self, project_id: uuid.UUID, name: str) -> Dataset | None:
        return self.session.scalar(self.select().where(Dataset.project_id == project_id,
                                                       Dataset.name == name))

    def in_project(self, project_id: uuid.UUID, params: PageParams) -> Page:
        return self.page(self.select().where(Dataset.project_id == project_id)
                         .order_by(Dataset.created_at.desc()), params)


class Blobs(TenantRepository[Blob]):
    model, noun = Blob, "image"

    def with_contents(self, sha256s: list[str]) -> dict[str, Blob]:
        """The organization's stored images with these contents, by SHA-256."""
        return {blob.sha256: blob for blob in self.session.scalars(
            self.select().where(Blob.sha256.in_(sha256s)))} if sha256s else {}


class Versions(TenantRepository[DatasetVersion]):
    model, noun = DatasetVersion, "dataset version"

    def next_number(self, dataset_id: uuid.UUID) -> int:
        latest = self.session.scalar(select(func.max(DatasetVersion.number))
                                     .where(DatasetVersion.dataset_id == dataset_id))
        return (latest or 0) + 1

    def of_dataset(self, dataset_id: uuid.UUID, params: PageParams) -> Page:
        """The dataset's versions, newest first."""
        return self.page(self.select().where(DatasetVersion.dataset_id == dataset_id)
                         .order_by(DatasetVersion.number.desc()), params)


class Uploads(TenantRepository[StagedUpload]):
    model, noun = StagedUpload, "upload"


class Items(TenantRepository[DatasetItem]):
    model, noun = DatasetItem, "item"

    def in_dataset(self, dataset_id: uuid.UUID) -> Select:
        return self.select().where(DatasetItem.dataset_id == dataset_id)

    def all_in(self, dataset_id: uuid.UUID) -> list[DatasetItem]:
        """Every item of the dataset, by path."""
        return list(self.session.scalars(self.in_dataset(dataset_id)
                                         .order_by(DatasetItem.path)))

    def at_paths(self, dataset_id: uuid.UUID, paths: list[str]) -> list[DatasetItem]:
        return list(self.session.scalars(self.in_dataset(dataset_id).where(
            DatasetItem.path.in_(paths)))) if paths else []

    def get_in(self, dataset_id: uuid.UUID, item_id: uuid.UUID) -> DatasetItem:
        item = self.session.scalar(self.in_dataset(dataset_id).where(DatasetItem.id == item_id))
        if item is None:
            raise NotFound(f"item {item_id} not found in dataset {dataset_id}")
        return item


class VersionItems(TenantRepository[VersionItem]):
    model, noun = VersionItem, "item"

    def in_version(self, version_id: uuid.UUID) -> Select:
        return self.select().where(VersionItem.version_id == version_id)

    def classes_by_split(self, version_id: uuid.UUID) -> dict[str, dict[str, int]]:
        """split (or "unassigned") -> class -> images of the version, counted in SQL (for
        versions made before their statistics held it)."""
        counts: dict[str, dict[str, int]] = {}
        for split, class_name, count in self.session.execute(
                select(VersionItem.split, VersionItem.class_name, func.count())
                .where(VersionItem.organization_id == self.tenant.organization_id,
                       VersionItem.version_id == version_id,
                       VersionItem.class_name.is_not(None))
                .group_by(VersionItem.split, VersionItem.class_name)):
            counts.setdefault(split or "unassigned", {})[class_name] = count
        return counts

    def label_rows(self, version_id: uuid.UUID) -> list[tuple[str | None, str | None,
                                                              bool | None]]:
        """(split, class name, is_defect) of every labeled item of the version."""
        return [tuple(row) for row in self.session.execute(
            select(VersionItem.split, VersionItem.class_name, VersionItem.is_defect)
            .where(VersionItem.organization_id == self.tenant.organization_id,
                   VersionItem.version_id == version_id, VersionItem.labeled.is_(True)))]

    def annotation_rows(self, version_id: uuid.UUID) -> list[tuple[str | None, list | None]]:
        """(split, annotations) of every labeled item of the version."""
        return [tuple(row) for row in self.session.execute(
            select(VersionItem.split, VersionItem.annotations)
            .where(VersionItem.organization_id == self.tenant.organization_id,
                   VersionItem.version_id == version_id, VersionItem.labeled.is_(True)))]

    def all_in(self, version_id: uuid.UUID) -> list[VersionItem]:
        """Every item of the version, by path."""
        return list(self.session.scalars(self.in_version(version_id)
                                         .order_by(VersionItem.path)))


LISTING_FILTERS = ("labeled", "class_name", "split", "is_defect")


@lru_cache(maxsize=64)
def _listing_query(model: type[DatasetItem] | type[VersionItem], parent: str,
                   filters: tuple[str, ...]) -> Select:
    """A page of the items under one parent (``dataset_id`` or ``version_id``) that pass the
    named filters, ordered by path: each row has the columns an ``ItemOut`` shows (the item's
    and its blob's) and the total of matches. The total is an uncorrelated scalar subquery over
    the unjoined matches, which the database evaluates once, so the page stops after
    ``limit`` rows of the ``(parent, path)`` index. Every value is a bind parameter
    (``organization_id``, ``parent_id``, the filters, ``offset``, ``limit``): the statement is
    built once per combination of filters, not per request."""
    conditions = (model.organization_id == bindparam("organization_id"),
                  getattr(model, parent) == bindparam("parent_id"),
                  *(getattr(model, name) == bindparam(name) for name in filters))
    total = select(func.count()).select_from(
        select(model.id).where(*conditions).subquery()).scalar_subquery()
    return (select(model.id, model.path, model.split, model.class_name, model.is_defect,
                   model.labeled, model.annotations, model.created_at, Blob.sha256, Blob.width,
                   Blob.height, Blob.size, Blob.thumbnail_key, total.label("total"))
            .join_from(model, Blob, Blob.id == model.blob_id).where(*conditions)
            .order_by(model.path)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer)))


class ItemListing:
    """Pages of a dataset's or a version's items, within the caller's organization."""

    def __init__(self, session: Session, tenant: Tenant,
                 model: type[DatasetItem] | type[VersionItem]) -> None:
        self.session, self.tenant, self.model = session, tenant, model
        self.parent = "dataset_id" if model is DatasetItem else "version_id"

    def page(self, parent_id: uuid.UUID, filters: dict[str, Any], offset: int, limit: int
             ) -> tuple[list[Row], int]:
        """Rows of one page (see ``_listing_query``) and the total of matches; ``filters``
        maps names of ``LISTING_FILTERS`` to values, ``None`` meaning no filter."""
        given = {name: value for name, value in filters.items() if value is not None}
        unknown = set(given) - set(LISTING_FILTERS)
        if unknown:
            raise ValueError(f"not listing filters: {sorted(unknown)}")
        query = _listing_query(self.model, self.parent,
                               tuple(name for name in LISTING_FILTERS if name in given))
        params = {"organization_id": self.tenant.organization_id, "parent_id": parent_id,
                  **given}
        rows = self.session.execute(query, {**params, "offset": offset, "limit": limit}).all()
        if rows or offset == 0:
            return rows, (rows[0].total if rows else 0)
        past_the_end = self.session.execute(query, {**params, "offset": 0, "limit": 1}).first()
        return rows, (past_the_end.total if past_the_end else 0)
