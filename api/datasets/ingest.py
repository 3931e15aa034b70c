"""Adding images to a dataset: stream to a temporary file while hashing, check, store once.

One ``Ingestor`` serves one request (multipart files, an archive, or finalized presigned
uploads). Each file gets its own verdict (added, duplicate, replaced, rejected with the
reason); a bad file never stops the others. Objects the request stored are remembered, so if
the request fails as a whole they are deleted again: no orphans, and since the database
transaction rolls back too, no half-added items.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.datasets.images import RejectedImage, inspect_image, make_thumbnail
from api.datasets.models import Blob, Dataset, DatasetItem
from api.problems import QuotaExceeded
from api.settings import Settings
from api.storage import ObjectStore
from api.tenancy import Tenant
from api.tenants.models import Organization

CHUNK = 1024 * 1024
Verdict = Literal["added", "duplicate", "replaced", "rejected"]


@dataclass
class FileReport:
    path: str
    status: Verdict
    detail: str = ""
    sha256: str | None = None
    item_id: str | None = None


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    def count(self, status: Verdict) -> int:
        return sum(1 for report in self.files if report.status == status)


def clean_path(name: str) -> str | None:
    """A safe relative POSIX path, or None for '..', absolute paths and empty names."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return posixpath.join(*parts)[:1000]


class Ingestor:
    def __init__(self, session: Session, store: ObjectStore, settings: Settings, tenant: Tenant,
                 dataset: Dataset) -> None:
        self.session = session
        self.store = store
        self.settings = settings
        self.tenant = tenant
        self.dataset = dataset
        self.report = IngestReport()
        self.stored_keys: list[str] = []
        organization = session.get(Organization, tenant.organization_id)
        self.storage_quota = organization.storage_bytes_quota
        self.items_quota = organization.images_per_dataset_quota
        self.storage_used = int(session.scalar(select(func.coalesce(func.sum(Blob.size), 0))
                                               .where(Blob.organization_id == organization.id)))
        self.item_count = int(session.scalar(select(func.count()).select_from(DatasetItem)
                                             .where(DatasetItem.dataset_id == dataset.id)))

    # ------------------------------------------------------------------ one file
    def add_stream(self, name: str, stream: BinaryIO, declared_size: int | None = None
                   ) -> FileReport:
        path = clean_path(name)
        if path is None:
            return self.reject(name, "unsafe path (absolute, '..' or empty)")
        with tempfile.NamedTemporaryFile(prefix="hatchery-ingest-") as temporary:
            digest, size = hashlib.sha256(), 0
            try:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.settings.max_image_bytes:
                        return self.reject(
                            path, f"larger than {self.settings.max_image_bytes} bytes")
                    digest.update(chunk)
                    temporary.write(chunk)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                return self.reject(path, f"unreadable: {error}")
            temporary.flush()
            if declared_size is not None and size != declared_size:
                return self.reject(path, f"{size} bytes arrived, {declared_size} declared")
            return self._add_file(path, Path(temporary.name), digest.hexdigest(), size)

    def _add_file(self, path: str, local: Path, sha256: str, size: int) -> FileReport:
        try:
            info = inspect_image(local, self.settings.max_image_pixels)
        except RejectedImage as error:
            return self.reject(path, str(error))
        blob = self.session.scalar(select(Blob).where(
            Blob.organization_id == self.tenant.organization_id, Blob.sha256 == sha256))
        if blob is None:
            blob = self._store_blob(local, sha256, size, info)
        existing = self.session.scalar(select(DatasetItem).where(
            DatasetItem.dataset_id == self.dataset.id, DatasetItem.path == path))
        if existing is not None:
            if existing.blob_id == blob.id:
                return self._record(FileReport(path, "duplicate", "already in the dataset",
                                               sha256, str(existing.id)))
            existing.blob_id = blob.id
            return self._record(FileReport(path, "replaced", "new content for this path",
                                           sha256, str(existing.id)))
        same_image = self.session.scalar(select(DatasetItem).where(
            DatasetItem.dataset_id == self.dataset.id, DatasetItem.blob_id == blob.id))
        if same_image is not None:
            return self._record(FileReport(path, "duplicate", f"same image as {same_image.path}",
                                           sha256, str(same_image.id)))
        if self.item_count + 1 > self.items_quota:
            raise QuotaExceeded(
                f"quota images_per_dataset ({self.items_quota}) reached: "
                f"{self.report.count('added')} files of this upload were accepted before it",
                quota="images_per_dataset", limit=self.items_quota, report=self.summary())
        item = DatasetItem(organization_id=self.tenant.organization_id,
                           dataset_id=self.dataset.id, blob_id=blob.id, path=path)
        self.session.add(item)
        self.session.flush()
        self.item_count += 1
        return self._record(FileReport(path, "added", "", sha256, str(item.id)))

    def _store_blob(self, local: Path, sha256: str, size: int, info) -> Blob:
        if self.storage_used + size > self.storage_quota:
            raise QuotaExceeded(
                f"quota storage_bytes ({self.storage_quota}) reached",
                quota="storage_bytes", limit=self.storage_quota, report=self.summary())
        organization = self.tenant.organization_id
        key = f"{organization}/blobs/{sha256}"
        thumbnail_key = f"{organization}/thumbnails/{sha256}.jpg"
        with local.open("rb") as stream:
            self.store.put_file(key, stream, size, info.content_type)
        self.stored_keys.append(key)
        self.store.put_bytes(thumbnail_key, make_thumbnail(local, self.settings.thumbnail_size),
                             "image/jpeg")
        self.stored_keys.append(thumbnail_key)
        blob = Blob(organization_id=organization, sha256=sha256, size=size, format=info.format,
                    width=info.width, height=info.height, mode=info.mode, storage_key=key,
                    thumbnail_key=thumbnail_key)
        self.session.add(blob)
        self.session.flush()
        self.storage_used += size
        return blob

    def _record(self, report: FileReport) -> FileReport:
        self.report.files.append(report)
        return report

    def reject(self, path: str, reason: str) -> FileReport:
        return self._record(FileReport(path, "rejected", reason))

    def summary(self) -> dict:
        return {status: self.report.count(status)
                for status in ("added", "duplicate", "replaced", "rejected")}

    # ----------------------------------------------------------- failure cleanup
    def delete_stored_objects(self) -> None:
        """Undo this request's object writes after its transaction rolled back.

        A key that a committed blob row references (a concurrent upload of the same bytes
        won the race) is kept.
        """
        for key in self.stored_keys:
            referenced = self.session.scalar(select(Blob.id).where(
                (Blob.storage_key == key) | (Blob.thumbnail_key == key)))
            if referenced is None:
                try:
                    self.store.delete(key)
                except Exception:  # best effort: a sweep of unreferenced keys finds it
                    continue
        self.stored_keys.clear()

    def commit(self) -> None:
        """Commit what was accepted; on failure roll back and delete this request's objects.

        A quota hit keeps the files accepted before it (and the 429 says how many).
        """
        try:
            self.session.commit()
        except BaseException:
            self.session.rollback()
            self.delete_stored_objects()
            raise

    def run(self, work) -> IngestReport:
        """Call ``work()`` (which feeds files to ``add_stream``), then commit."""
        try:
            work()
        except QuotaExceeded:
            self.commit()
            raise
        except BaseException:
            self.session.rollback()
            self.delete_stored_objects()
            raise
        self.commit()
        return self.report
