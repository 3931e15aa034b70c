"""Images, datasets, their labels and immutable versions.

- ``Blob``: one stored image, content-addressed by SHA-256 within an organization (the same
  bytes uploaded twice are stored once); key ``<org>/blobs/<sha256>``, thumbnail
  ``<org>/thumbnails/<sha256>.jpg`` (or the image's own key when it is a JPEG no larger
  than a thumbnail).
- ``Dataset`` / ``DatasetItem``: the editable working set: which blobs, under which file
  names, with which labels (class, good/defect, split, boxes and polygons).
- ``DatasetVersion`` / ``VersionItem``: a frozen copy of the items and labels at one moment;
  jobs reference versions, so training data never changes underfoot.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.kit.db import Base, TenantMixin


class Blob(TenantMixin, Base):
    __tablename__ = "blobs"
    __table_args__ = (UniqueConstraint("organization_id", "sha256"),)

    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int]
    height: Mapped[int]
    mode: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str] = mapped_column(String(300))


class Dataset(TenantMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                                  index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")


class LabelColumns:
    """Labels of one image: split, class, good/defect flag, boxes/polygons/masks (JSON)."""

    path: Mapped[str] = mapped_column(String(1000))
    split: Mapped[str | None] = mapped_column(String(16), default=None)
    class_name: Mapped[str | None] = mapped_column(String(200), default=None)
    is_defect: Mapped[bool | None] = mapped_column(default=None)
    annotations: Mapped[list] = mapped_column(default=list)
    labeled: Mapped[bool] = mapped_column(default=False, index=True)


class DatasetItem(TenantMixin, LabelColumns, Base):
    __tablename__ = "dataset_items"
    __table_args__ = (UniqueConstraint("dataset_id", "path"),
                      Index("ix_dataset_items_dataset_class", "dataset_id", "class_name"))

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"),
                                                  index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"),
                                               index=True)


class DatasetVersion(TenantMixin, Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"),
                                                  index=True)
    number: Mapped[int]
    note: Mapped[str] = mapped_column(String(2000), default="")
    stats: Mapped[dict] = mapped_column(default=dict)


class VersionItem(TenantMixin, LabelColumns, Base):
    __tablename__ = "dataset_version_items"
    __table_args__ = (Index("ix_version_items_version_class", "version_id", "class_name"),)

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"),
                                               index=True)


class StagedUpload(TenantMixin, Base):
    """A presigned direct-to-store upload: files PUT to staging keys, then finalized."""

    __tablename__ = "staged_uploads"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"),
                                                  index=True)
    files: Mapped[list] = mapped_column(default=list)  # [{"name", "size", "key"}]
    status: Mapped[str] = mapped_column(String(16), default="open")
