"""A worker's local, content-addressed copy of dataset versions, shared by its jobs.

Blobs are stored once per host under ``blobs/<sha256[:2]>/<sha256>`` and evicted least
recently used first when the cache outgrows ``max_bytes``. A dataset version becomes a
folder of hard links to those blobs (``views/<version>-<layout>/``): the engine reads an
ordinary image folder, a second job on the same version downloads nothing, and evicting a
blob never breaks a folder a running job is reading (the link keeps the bytes). Workers on
one host may share the cache: a view that a job reads is locked and never evicted.

Layouts: ``files`` keeps each item's uploaded path (pretraining on everything);
``classes`` puts each labeled item under ``<class>/`` (kNN evaluation, classification);
``good`` keeps the uploaded path of the images of good parts (what anomaly detection learns
from) and ``defect`` that of defective parts (``engine.schemas.finetune.part_condition``).
``coco`` keeps the uploaded path of the images with boxes, polygons or masks, and of good
parts (images with no object), beside ``annotations.json`` (COCO) of their annotations
(detection, segmentation). A ``-train`` or ``-test`` suffix keeps the items of one split
only (train: those marked train or not marked; test: those marked test), so one version can
be trained on and scored on itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.datasets.label_formats import coco_document
from api.datasets.paths import safe_relative as _safe_relative
from api.datasets.paths import view_path
from api.kit.storage import ObjectStore
from api.models.datasets import Blob, DatasetVersion, VersionItem
from engine.schemas.finetune import part_condition

COMPLETE_MARKER = ".complete"
COCO_FILE = "annotations.json"  # in a coco[-<split>] view


class VersionNotFound(LookupError):
    """The dataset version does not exist in the job's organization."""


@dataclass
class Materialized:
    path: Path
    images: int
    downloaded: int  # blobs fetched from the object store for this call
    downloaded_bytes: int


LAYOUTS = ("files", *(f"{selection}{split}"
                      for selection in ("classes", "good", "defect", "coco")
                      for split in ("", "-train", "-test")))


def _selected(class_name: str | None, is_defect: bool | None, annotations: list | None,
              split: str | None, layout: str) -> bool:
    """Whether an item of these labels and ``split`` belongs in ``layout``."""
    selection, _, wanted_split = layout.partition("-")
    if wanted_split == "train" and split not in ("train", None):
        return False
    if wanted_split == "test" and split != "test":
        return False
    if selection in ("good", "defect"):
        return part_condition(class_name, is_defect) == selection
    if selection == "coco":
        return bool(annotations) or is_defect is False
    return selection == "files" or bool(class_name)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


class DatasetCache:
    def __init__(self, root: str | Path, store: ObjectStore, max_bytes: int) -> None:
        self.root = Path(root)
        self.store = store
        self.max_bytes = max_bytes
        self._held: list = []  # open lock files of the views this process reads
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "views").mkdir(parents=True, exist_ok=True)

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def fetch_blob(self, sha256: str, key: str) -> int:
        """Make the blob local; returns the bytes downloaded (0 on a cache hit)."""
        path = self.blob_path(sha256)
        if path.exists():
            os.utime(path)  # most recently used
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{sha256}.{uuid.uuid4().hex}.part")
        with self.store.open(key) as source, partial.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        partial.replace(path)  # atomic: another job never sees half a blob
        return path.stat().st_size

    def materialize(self, session: Session, organization_id: uuid.UUID, version_id: uuid.UUID,
                    layout: str = "files") -> Materialized:
        """The version as an image folder (see the module docstring for layouts), only when
        it belongs to ``organization_id`` (``VersionNotFound`` otherwise, even if another
        organization's job built the folder already)."""
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
        owned = session.scalar(select(DatasetVersion.id).where(
            DatasetVersion.id == version_id, DatasetVersion.organization_id == organization_id))
        if owned is None:
            raise VersionNotFound(f"dataset version {version_id} not found")
        view = self.root / "views" / f"{version_id}-{layout}"
        rows = session.execute(
            select(VersionItem.path, VersionItem.class_name, VersionItem.is_defect,
                   VersionItem.annotations, VersionItem.split, Blob.width, Blob.height,
                   Blob.sha256,
                   Blob.storage_key, Blob.format)
            .join(Blob, Blob.id == VersionItem.blob_id)
            .where(VersionItem.version_id == version_id,
                   VersionItem.organization_id == organization_id,
                   Blob.organization_id == organization_id)
            .order_by(VersionItem.path)).all()
        rows = [row for row in rows if _selected(row.class_name, row.is_defect,
                                                 row.annotations, row.split, layout)]
        fetched: list[int] = []  # a built view holds its files: nothing to fetch
        if not (view / COMPLETE_MARKER).exists():
            fetched = self._build_view(view, rows, layout)
        self._hold(view)
        os.utime(view / COMPLETE_MARKER)
        self.evict(keep=view)
        return Materialized(view, len(rows), sum(size > 0 for size in fetched), sum(fetched))

    def _build_view(self, view: Path, rows, layout: str) -> list[int]:
        """Link every row's blob into ``view`` (fetching what is missing); returns the bytes
        downloaded per row."""
        building = view.with_name(f"{view.name}.{uuid.uuid4().hex}.building")
        fetched, described = [], []
        for row in rows:
            relative = view_path(row.path, row.format)
            if layout.startswith("classes"):
                relative = _safe_relative(row.class_name) / relative.name
            target = building / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            fetched.append(self.fetch_blob(row.sha256, row.storage_key))
            if not target.exists():
                link_or_copy(self.blob_path(row.sha256), target)
            if layout.startswith("coco"):
                described.append({"path": relative.as_posix(), "width": row.width,
                                  "height": row.height, "class_name": None,
                                  "annotations": row.annotations or []})
        building.mkdir(parents=True, exist_ok=True)
        if layout.startswith("coco"):
            (building / COCO_FILE).write_text(json.dumps(coco_document(described)))
        (building / COMPLETE_MARKER).touch()
        try:
            building.rename(view)
        except OSError:  # another job built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
        return fetched

    def _hold(self, view: Path) -> None:
        """A shared lock on the view for as long as this process lives: while any job
        reads a view, no worker sharing the cache removes it."""
        handle = (view / COMPLETE_MARKER).open("rb")
        fcntl.flock(handle, fcntl.LOCK_SH)
        self._held.append(handle)

    @staticmethod
    def _remove_unused(view: Path) -> None:
        try:
            with (view / COMPLETE_MARKER).open("rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while in use
                shutil.rmtree(view, ignore_errors=True)
        except OSError:
            pass

    def evict(self, keep: Path | None = None) -> int:
        """Delete least recently used entries until the cache fits; returns bytes freed.

        Views go first (their links would keep evicted bytes alive, and they are rebuilt
        from blobs in moments), then blobs; ``keep`` (the view in use) stays.
        """
        blobs = [(path.stat(), path) for path in (self.root / "blobs").glob("*/*")
                 if not path.name.endswith(".part")]
        total = sum(stat.st_size for stat, _ in blobs)
        if total <= self.max_bytes:
            return 0
        views = sorted((marker.stat().st_mtime, marker.parent)
                       for marker in (self.root / "views").glob(f"*/{COMPLETE_MARKER}"))
        for _, view in views:
            if view != keep:
                self._remove_unused(view)
        freed = 0
        for stat, path in sorted(blobs, key=lambda item: item[0].st_mtime):
            if total - freed <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            freed += stat.st_size
        return freed
