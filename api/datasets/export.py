"""A dataset version as a zip, streamed: class folders (classification) or COCO.

The zip is written into a small in-memory buffer that is drained after every image, so a
100k-image export never sits in memory; each image is read from the object store once.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections.abc import Iterator
from typing import Any, Literal

from api.datasets.label_formats import coco_document
from api.kit.storage import ObjectStore

ExportFormat = Literal["folders", "coco"]


class _Drain:
    """A write-only, non-seekable sink whose bytes are collected between drains."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _folder_name(item: dict[str, Any], used: set[str]) -> str:
    folder = item["class_name"] or ("defect" if item["is_defect"] else
                                    "good" if item["is_defect"] is False else "unlabeled")
    name = f"{folder}/{posixpath.basename(item['path'])}"
    if name in used:
        name = f"{folder}/{item['sha256'][:12]}_{posixpath.basename(item['path'])}"
    used.add(name)
    return name


def stream_zip(items: list[dict[str, Any]], store: ObjectStore, export_format: ExportFormat
               ) -> Iterator[bytes]:
    """Yield the zip in pieces. items: dicts with path, sha256, storage_key, labels."""
    sink = _Drain()
    used: set[str] = set()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for item in items:
            name = (_folder_name(item, used) if export_format == "folders"
                    else f"images/{item['path']}")
            archive.writestr(name, store.get_bytes(item["storage_key"]))
            yield sink.drain()
        if export_format == "coco":
            archive.writestr("annotations.json", json.dumps(coco_document(items)))
    yield sink.drain()
