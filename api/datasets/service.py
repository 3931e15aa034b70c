"""Dataset logic: items and labels, label import, statistics, versions."""

from __future__ import annotations

import posixpath
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.datasets.label_formats import (
    ImportedLabels,
    parse_coco,
    parse_csv,
    parse_voc,
    parse_yolo,
)
from api.datasets.repository import Blobs, Items, Versions
from api.datasets.schemas import ItemOut, LabelImportReport, Labels, class_name_problem
from api.kit.problems import Unprocessable
from api.kit.requests import refuse_unstorable
from api.kit.settings import Settings
from api.kit.storage import ObjectStore
from api.models.datasets import Blob, DatasetItem, DatasetVersion, LabelColumns, VersionItem
from api.tenancy import Tenant
from engine.schemas.finetune import part_condition


def item_out(item: LabelColumns, blob: Blob, store: ObjectStore, settings: Settings) -> ItemOut:
    return ItemOut(
        id=item.id, path=item.path, sha256=blob.sha256, width=blob.width, height=blob.height,
        size=blob.size, split=item.split, class_name=item.class_name, is_defect=item.is_defect,
        labeled=item.labeled, annotations=item.annotations, created_at=item.created_at,
        thumbnail_url=store.presigned_get(blob.thumbnail_key, settings.presign_seconds),
    )


def listed_item(row: Any, store: ObjectStore, settings: Settings) -> ItemOut:
    """An ``ItemOut`` from one row of an ``ItemListing`` page."""
    return ItemOut(
        id=row.id, path=row.path, sha256=row.sha256, width=row.width, height=row.height,
        size=row.size, split=row.split, class_name=row.class_name, is_defect=row.is_defect,
        labeled=row.labeled, annotations=row.annotations, created_at=row.created_at,
        thumbnail_url=store.presigned_get(row.thumbnail_key, settings.presign_seconds),
    )


def with_blobs(session: Session, items: list[LabelColumns]) -> list[tuple[Any, Blob]]:
    blobs = {blob.id: blob for blob in session.scalars(
        select(Blob).where(Blob.id.in_({item.blob_id for item in items})))}
    return [(item, blobs[item.blob_id]) for item in items]


def _check_inside(annotations: list, width: int, height: int) -> None:
    for index, annotation in enumerate(annotations):
        if annotation.type == "box":
            corners = [(annotation.x + annotation.width, annotation.y + annotation.height)]
        elif annotation.type == "polygon":
            corners = annotation.points
        else:
            if tuple(annotation.size) != (height, width):
                raise Unprocessable(f"annotations.{index}.size must be [{height}, {width}], "
                                    f"the image's height and width")
            continue
        for x, y in corners:
            if not (0 <= x <= width + 0.5 and 0 <= y <= height + 0.5):
                raise Unprocessable(f"annotations.{index} reaches ({x:g}, {y:g}), outside the "
                                    f"{width}x{height} image")


def apply_labels(item: DatasetItem, labels: dict[str, Any]) -> None:
    item.split = labels.get("split")
    item.class_name = labels.get("class_name")
    item.is_defect = labels.get("is_defect")
    item.annotations = labels.get("annotations") or []
    item.labeled = bool(item.class_name is not None or item.is_defect is not None
                        or item.annotations)


def set_labels(session: Session, item: DatasetItem, labels: Labels) -> None:
    blob = session.get(Blob, item.blob_id)
    _check_inside(labels.annotations, blob.width, blob.height)
    apply_labels(item, labels.model_dump(mode="json"))


def import_labels(session: Session, tenant: Tenant, dataset_id: uuid.UUID, label_format: str,
                  data: bytes, filename: str) -> LabelImportReport:
    """Read a label file of ``label_format`` and apply it to the dataset's items."""
    items = Items(session, tenant).all_in(dataset_id)
    if label_format == "coco":
        parsed = parse_coco(data)
    elif label_format == "voc":
        parsed = parse_voc(data, filename)
    elif label_format == "csv":
        parsed = parse_csv(data, filename)
    else:
        stems = {posixpath.splitext(posixpath.basename(item.path))[0]: item for item in items}
        sizes = {stem: (blob.width, blob.height)
                 for stem, (_, blob) in zip(stems, with_blobs(session, list(stems.values())),
                                            strict=True)}
        parsed = parse_yolo(data, sizes)
    return apply_imported(session, items, parsed, label_format)


def apply_imported(session: Session, items: list[DatasetItem],
                   parsed: dict[str, ImportedLabels], label_format: str) -> LabelImportReport:
    """Label each of ``items`` that ``parsed`` names (by path, file name or file stem)."""
    for name, imported in parsed.items():
        refuse_unstorable([imported.image_class, imported.annotations])
        classes_named = {a["class_name"] for a in imported.annotations}
        if imported.image_class is not None:
            classes_named.add(imported.image_class)
        for class_name in classes_named:
            problem = class_name_problem(class_name)
            if problem:
                raise Unprocessable(f"{name}: {problem}")
    by_path = {item.path: item for item in items}
    by_name = {posixpath.basename(item.path): item for item in items}
    by_stem = {posixpath.splitext(posixpath.basename(item.path))[0]: item for item in items}
    matched, unmatched, classes = 0, [], set()
    for name, imported in parsed.items():
        item = by_path.get(name) or by_name.get(posixpath.basename(name)) or by_stem.get(name)
        if item is None:
            unmatched.append(name)
            continue
        _apply_imported(item, imported)
        classes.update(a["class_name"] for a in imported.annotations)
        if imported.image_class:
            classes.add(imported.image_class)
        matched += 1
    session.flush()
    return LabelImportReport(format=label_format, matched=matched, unmatched=sorted(unmatched),
                             classes=sorted(classes))


def _apply_imported(item: DatasetItem, imported: ImportedLabels) -> None:
    apply_labels(item, {"split": imported.split or item.split,
                        "class_name": imported.class_name or item.class_name,
                        "is_defect": (imported.is_defect if imported.is_defect is not None
                                      else item.is_defect),
                        "annotations": (imported.annotations if imported.has_annotations
                                        else item.annotations)})


def statistics(session: Session, items: list[LabelColumns]) -> dict[str, Any]:
    """Counts, bytes, label counts and class balance of a list of items."""
    blobs = {blob.id: blob.size for blob in session.scalars(
        select(Blob).where(Blob.id.in_({item.blob_id for item in items})))}
    classes = Counter(item.class_name for item in items if item.class_name)
    total_classified = sum(classes.values())
    return {
        "items": len(items),
        "bytes": sum(blobs[item.blob_id] for item in items),
        "labeled": sum(1 for item in items if item.labeled),
        "defect": sum(1 for item in items if item.is_defect is True),
        "good": sum(1 for item in items if item.is_defect is False),
        "annotations": sum(len(item.annotations) for item in items),
        "splits": dict(Counter(item.split or "unassigned" for item in items)),
        "classes_by_split": _classes_by_split(items),
        "conditions_by_split": conditions_by_split(
            (item.split, item.class_name, item.is_defect) for item in items),
        "annotated_by_split": annotated_by_split(
            (item.split, item.annotations) for item in items),
        "classes": dict(sorted(classes.items())),
        "class_balance": {name: round(count / total_classified, 4)
                          for name, count in sorted(classes.items())},
    }


def _classes_by_split(items: list[LabelColumns]) -> dict[str, dict[str, int]]:
    """split (or "unassigned") -> class -> images."""
    counts: dict[str, Counter] = {}
    for item in items:
        if item.class_name:
            counts.setdefault(item.split or "unassigned", Counter())[item.class_name] += 1
    return {split: dict(sorted(classes.items())) for split, classes in sorted(counts.items())}


def conditions_by_split(labels: Iterable[tuple[str | None, str | None, bool | None]]
                        ) -> dict[str, dict[str, int]]:
    """split (or "unassigned") -> "good" / "defect" -> images, from (split, class name,
    is_defect) per image (``engine.schemas.finetune.part_condition``)."""
    counts: dict[str, Counter] = {}
    for split, class_name, is_defect in labels:
        condition = part_condition(class_name, is_defect)
        if condition is not None:
            counts.setdefault(split or "unassigned", Counter())[condition] += 1
    return {split: dict(sorted(found.items())) for split, found in sorted(counts.items())}


def annotated_by_split(rows: Iterable[tuple[str | None, list | None]]) -> dict[str, int]:
    """split (or "unassigned") -> images with at least one box, polygon or mask."""
    counts: Counter = Counter(split or "unassigned" for split, annotations in rows
                              if annotations)
    return dict(sorted(counts.items()))


def create_version(session: Session, tenant: Tenant, dataset_id: uuid.UUID, note: str
                   ) -> DatasetVersion:
    """Freeze the dataset's current items and labels into a new numbered version."""
    items = Items(session, tenant).all_in(dataset_id)
    if not items:
        raise Unprocessable("the dataset has no images yet: upload some before versioning")
    versions = Versions(session, tenant)
    version = versions.add(DatasetVersion(dataset_id=dataset_id, note=note,
                                          number=versions.next_number(dataset_id),
                                          stats=statistics(session, items)))
    rows = [{"id": uuid.uuid4(), "organization_id": tenant.organization_id,
             "version_id": version.id, "blob_id": item.blob_id, "path": item.path,
             "split": item.split, "class_name": item.class_name, "is_defect": item.is_defect,
             "annotations": item.annotations, "labeled": item.labeled,
             "created_at": version.created_at} for item in items]
    for start in range(0, len(rows), 5000):
        session.execute(insert(VersionItem), rows[start:start + 5000])
    return version


def blob_of(session: Session, tenant: Tenant, blob_id: uuid.UUID) -> Blob:
    return Blobs(session, tenant).get(blob_id)
