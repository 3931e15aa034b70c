"""Adding images to a dataset: spool while hashing, then check and store in batches.

One ``Ingestor`` serves one request (multipart files, an archive, or finalized presigned
uploads). ``add_stream`` spools a file while hashing it and stages it; every ``BATCH_SIZE``
staged files (and at the end) ``flush`` settles them together:

1. one query finds which contents the organization already stores (those are not decoded
   again: the same bytes passed the same checks before);
2. the new contents are decoded, checked and thumbnailed, in parallel (PIL releases the GIL);
3. each file gets its verdict in upload order, against one query of the dataset's items by
   path and one by content: added, duplicate, replaced, or rejected with the reason; the
   quotas are checked in that same order;
4. the new objects are written to the store concurrently, then the new rows are inserted
   together.

A bad file never stops the others, and the report lists the files in upload order. Objects
the request stored are remembered, so if the request fails as a whole they are deleted again:
no orphans, and since the database transaction rolls back too, no half-added items.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.datasets.images import CheckedImage, RejectedImage, check_image
from api.datasets.paths import item_path, path_problem
from api.datasets.repository import Blobs
from api.kit.problems import QuotaExceeded
from api.kit.settings import Settings
from api.kit.storage import ObjectStore
from api.models.datasets import Blob, Dataset, DatasetItem
from api.models.tenants import Organization
from api.quotas.service import stored_bytes
from api.tenancy import Tenant

CHUNK = 1024 * 1024
SPOOL_BYTES = 256 * 1024  # smaller files stay in memory while staged
BATCH_SIZE = 64
Verdict = Literal["added", "duplicate", "replaced", "rejected"]
ALREADY_AT_THIS_PATH = "already in the dataset"  # a duplicate that is the item at its path

# Shared by every request of the process: decoding is CPU work (one thread per core), object
# writes wait on the network (many in flight hide the round trips).
_DECODERS = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="hatchery-decode")
_WRITERS = ThreadPoolExecutor(16, thread_name_prefix="hatchery-put")


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


@dataclass
class StagedFile:
    """A spooled upload waiting for its batch; ``slot`` is its place in the report."""

    slot: int
    path: str
    spool: tempfile.SpooledTemporaryFile
    sha256: str
    size: int


@dataclass
class ShownItems:
    """A batch's view of the dataset: its items by path and by content, the content each
    path will show once the batch is written, and the items the batch adds."""

    by_path: dict[str, DatasetItem] = field(default_factory=dict)
    by_blob: dict[uuid.UUID, DatasetItem] = field(default_factory=dict)
    blob_at: dict[str, uuid.UUID] = field(default_factory=dict)
    added: list[DatasetItem] = field(default_factory=list)


def _check(staged: StagedFile, settings: Settings) -> CheckedImage | RejectedImage:
    staged.spool.seek(0)
    try:
        return check_image(staged.spool, settings.max_image_pixels, settings.thumbnail_size)
    except RejectedImage as error:
        return error


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
        self.staged: list[StagedFile] = []
        organization = session.get(Organization, tenant.organization_id)
        self.storage_quota = organization.storage_bytes_quota
        self.items_quota = organization.images_per_dataset_quota
        self.storage_used = stored_bytes(session, organization.id)
        self.item_count = int(session.scalar(select(func.count()).select_from(DatasetItem)
                                             .where(DatasetItem.dataset_id == dataset.id)))

    # ------------------------------------------------------------------ one file
    def add_stream(self, name: str, stream: BinaryIO, declared_size: int | None = None) -> None:
        """Spool and hash one file, or reject it at once; its verdict comes with its batch."""
        problem = path_problem(name)
        if problem:
            self.reject(name, problem)
            return
        path = item_path(name)
        # Open until the batch is settled (flush closes it), hence no context manager.
        spool = tempfile.SpooledTemporaryFile(SPOOL_BYTES, prefix="hatchery-ingest-")  # noqa: SIM115
        digest = hashlib.sha256()
        refusal = self._copy(stream, spool, digest, declared_size)
        if refusal is not None:
            spool.close()
            self.reject(path, refusal)
            return
        self.report.files.append(FileReport(path, "rejected", "not processed"))
        self.staged.append(StagedFile(len(self.report.files) - 1, path, spool,
                                      digest.hexdigest(), spool.tell()))
        if len(self.staged) >= BATCH_SIZE:
            self.flush()

    def _copy(self, stream: BinaryIO, spool: BinaryIO, digest: hashlib._Hash,
              declared_size: int | None) -> str | None:
        """Copy ``stream`` into ``spool`` while hashing; the reason to refuse it, if any."""
        size = 0
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > self.settings.max_image_bytes:
                    return f"larger than {self.settings.max_image_bytes} bytes"
                digest.update(chunk)
                spool.write(chunk)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            return f"unreadable: {error}"
        if declared_size is not None and size != declared_size:
            return f"{size} bytes arrived, {declared_size} declared"
        return None

    def reject(self, path: str, reason: str) -> None:
        self.report.files.append(FileReport(path, "rejected", reason))

    # ----------------------------------------------------------------- one batch
    def flush(self) -> None:
        """Settle the staged files (see the module docstring); a quota hit keeps the files
        before it and raises ``QuotaExceeded`` (the files after it are not reported)."""
        staged, self.staged = self.staged, []
        try:
            self._settle(staged)
        finally:
            for file in staged:
                file.spool.close()

    def _settle(self, staged: list[StagedFile]) -> None:
        known = self._known_blobs(staged)
        checked = self._check_new(staged, known)
        shown = self._dataset_items(staged, known)
        new_blobs: list[tuple[Blob, StagedFile, CheckedImage]] = []
        quota_error: QuotaExceeded | None = None
        for file in staged:
            result = checked.get(file.sha256)
            if isinstance(result, RejectedImage):
                self.report.files[file.slot] = FileReport(file.path, "rejected", str(result))
                continue
            try:
                blob = known.get(file.sha256)
                if blob is None:
                    blob = known[file.sha256] = self._new_blob(file, result)
                    new_blobs.append((blob, file, result))
                self.report.files[file.slot] = self._place(file, blob, shown)
            except QuotaExceeded as error:
                quota_error = error
                if new_blobs and new_blobs[-1][1] is file:
                    new_blobs.pop()  # stored for nothing: its item is over the quota
                del self.report.files[file.slot:]  # the files after the limit: not settled
                break
        self._write_objects(new_blobs)
        # Rows in foreign-key order: the blobs, then the items that show them.
        self.session.add_all([blob for blob, _, _ in new_blobs])
        self.session.flush()
        for path, blob_id in shown.blob_at.items():
            shown.by_path[path].blob_id = blob_id
        self.session.add_all(shown.added)
        self.session.flush()
        if quota_error is not None:
            quota_error.extra["report"] = self.summary()
            raise quota_error

    def _known_blobs(self, staged: list[StagedFile]) -> dict[str, Blob]:
        """The organization's stored images with the staged contents, by SHA-256."""
        return Blobs(self.session, self.tenant).with_contents(
            list({file.sha256 for file in staged}))

    def _check_new(self, staged: list[StagedFile], known: dict[str, Blob]
                   ) -> dict[str, CheckedImage | RejectedImage]:
        """Decode each content not stored yet once (in parallel), by SHA-256."""
        first_of_each: dict[str, StagedFile] = {}
        for file in staged:
            if file.sha256 not in known:
                first_of_each.setdefault(file.sha256, file)
        results = _DECODERS.map(lambda file: _check(file, self.settings),
                                first_of_each.values())
        return dict(zip(first_of_each, results, strict=True))

    def _dataset_items(self, staged: list[StagedFile], known: dict[str, Blob]) -> ShownItems:
        """The dataset's items at the staged paths, and those showing a known content."""
        shown = ShownItems()
        for item in self.session.scalars(select(DatasetItem).where(
                DatasetItem.dataset_id == self.dataset.id,
                DatasetItem.path.in_(list({file.path for file in staged})))):
            shown.by_path[item.path] = item
            shown.blob_at[item.path] = item.blob_id
        if known:
            for item in self.session.scalars(select(DatasetItem).where(
                    DatasetItem.dataset_id == self.dataset.id,
                    DatasetItem.blob_id.in_([blob.id for blob in known.values()]))):
                shown.by_blob.setdefault(item.blob_id, item)
        return shown

    def _new_blob(self, file: StagedFile, checked: CheckedImage) -> Blob:
        """A row for a content not stored yet (raises when over the storage quota)."""
        if self.storage_used + file.size > self.storage_quota:
            raise QuotaExceeded(f"quota storage_bytes ({self.storage_quota}) reached",
                                quota="storage_bytes", limit=self.storage_quota)
        self.storage_used += file.size
        organization = self.tenant.organization_id
        key = f"{organization}/blobs/{file.sha256}"
        info = checked.info
        return Blob(id=uuid.uuid4(), organization_id=organization, sha256=file.sha256,
                    size=file.size, format=info.format, width=info.width, height=info.height,
                    mode=info.mode, storage_key=key,
                    thumbnail_key=(key if checked.thumbnail is None
                                   else f"{organization}/thumbnails/{file.sha256}.jpg"))

    def _place(self, file: StagedFile, blob: Blob, shown: ShownItems) -> FileReport:
        """The file's verdict in the dataset (raises when a new item is over the quota)."""
        existing = shown.by_path.get(file.path)
        if existing is not None:
            current = shown.blob_at[file.path]
            if current == blob.id:
                return FileReport(file.path, "duplicate", ALREADY_AT_THIS_PATH,
                                  file.sha256, str(existing.id))
            if shown.by_blob.get(current) is existing:
                del shown.by_blob[current]  # the path no longer shows its old content
            shown.blob_at[file.path] = blob.id
            shown.by_blob.setdefault(blob.id, existing)
            return FileReport(file.path, "replaced", "new content for this path", file.sha256,
                              str(existing.id))
        same_image = shown.by_blob.get(blob.id)
        if same_image is not None:
            return FileReport(file.path, "duplicate", f"same image as {same_image.path}",
                              file.sha256, str(same_image.id))
        if self.item_count + 1 > self.items_quota:
            raise QuotaExceeded(
                f"quota images_per_dataset ({self.items_quota}) reached: "
                f"{self.report.count('added')} files of this upload were accepted before it",
                quota="images_per_dataset", limit=self.items_quota)
        item = DatasetItem(id=uuid.uuid4(), organization_id=self.tenant.organization_id,
                           dataset_id=self.dataset.id, blob_id=blob.id, path=file.path)
        shown.by_path[file.path] = shown.by_blob[blob.id] = item
        shown.blob_at[file.path] = blob.id
        shown.added.append(item)
        self.item_count += 1
        return FileReport(file.path, "added", "", file.sha256, str(item.id))

    def _write_objects(self, new_blobs: list[tuple[Blob, StagedFile, CheckedImage]]) -> None:
        """Every new image and thumbnail, written concurrently; all writes have ended (or
        failed) when this returns, and the first failure is raised."""
        writes: list[Callable[[], None]] = []
        for blob, file, checked in new_blobs:
            writes.append(self._image_write(blob, file, checked.info.content_type))
            self.stored_keys.append(blob.storage_key)
            if checked.thumbnail is not None:
                writes.append(lambda key=blob.thumbnail_key, data=checked.thumbnail:
                              self.store.put_bytes(key, data, "image/jpeg"))
                self.stored_keys.append(blob.thumbnail_key)
        futures = [_WRITERS.submit(write) for write in writes]
        wait(futures)
        for future in futures:
            future.result()

    def _image_write(self, blob: Blob, file: StagedFile, content_type: str
                     ) -> Callable[[], None]:
        def write() -> None:
            file.spool.seek(0)
            self.store.put_file(blob.storage_key, file.spool, file.size, content_type)

        return write

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

    def run(self, work: Callable[[], None]) -> IngestReport:
        """Call ``work()`` (which feeds files to ``add_stream``), settle the rest, commit."""
        try:
            work()
            self.flush()
        except QuotaExceeded:
            self.commit()
            raise
        except BaseException:
            self.session.rollback()
            self.delete_stored_objects()
            raise
        finally:
            for file in self.staged:
                file.spool.close()
        self.commit()
        return self.report
