"""Bulk label import (COCO, Pascal VOC, YOLO, CSV, class folders) and export (class
folders, COCO).

Importers read an uploaded file (COCO: one JSON; VOC: one XML or a zip of them; YOLO: a zip
of .txt files, with the class names in classes.txt / obj.names / data.yaml; CSV: one row per
image) or the paths of an uploaded archive (``<class>/<file>``), and return, per image file
name, its annotations and image-level labels. Items are matched by path, then by file name,
then by file stem (YOLO names its label files after the image's stem).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import yaml

from api.kit.problems import Unprocessable


@dataclass
class ImportedLabels:
    annotations: list[dict[str, Any]] = field(default_factory=list)
    is_defect: bool | None = None
    image_class: str | None = None  # given for the whole image (CSV, class folders)
    split: str | None = None
    # False where the source says nothing of boxes and masks (CSV, class folders): an
    # image's annotations are then kept, not cleared
    has_annotations: bool = True

    @property
    def class_name(self) -> str | None:
        if self.image_class is not None:
            return self.image_class
        names = {a["class_name"] for a in self.annotations}
        return names.pop() if len(names) == 1 else None


def _box(class_name: str, x: float, y: float, width: float, height: float) -> dict[str, Any]:
    return {"type": "box", "class_name": class_name, "x": max(0.0, x), "y": max(0.0, y),
            "width": width, "height": height}


def parse_coco(data: bytes) -> dict[str, ImportedLabels]:
    try:
        document = json.loads(data)
        categories = {c["id"]: c["name"] for c in document.get("categories", [])}
        images = {i["id"]: i["file_name"] for i in document["images"]}
        labels = {name: ImportedLabels(is_defect=False) for name in images.values()}
        for annotation in document.get("annotations", []):
            name = images[annotation["image_id"]]
            class_name = categories.get(annotation["category_id"], str(annotation["category_id"]))
            entry = labels[name]
            entry.is_defect = True
            segmentation = annotation.get("segmentation")
            if isinstance(segmentation, list) and segmentation:
                for ring in segmentation:
                    points = [(ring[i], ring[i + 1]) for i in range(0, len(ring) - 1, 2)]
                    entry.annotations.append({"type": "polygon", "class_name": class_name,
                                              "points": points})
            elif "bbox" in annotation:
                entry.annotations.append(_box(class_name, *annotation["bbox"]))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise Unprocessable(f"not a valid COCO annotation file: {error!r}") from error
    return labels


def _parse_voc_xml(text: bytes, source: str) -> tuple[str, ImportedLabels]:
    try:
        root = ElementTree.fromstring(text)
        filename = root.findtext("filename") or posixpath.splitext(source)[0] + ".jpg"
        entry = ImportedLabels(is_defect=False)
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            xmin, ymin, xmax, ymax = (float(box.findtext(k)) for k in
                                      ("xmin", "ymin", "xmax", "ymax"))
            entry.annotations.append(_box(obj.findtext("name").strip(), xmin, ymin,
                                          xmax - xmin, ymax - ymin))
            entry.is_defect = True
    except (ElementTree.ParseError, AttributeError, TypeError, ValueError) as error:
        raise Unprocessable(f"{source}: not a valid Pascal VOC annotation ({error})") from error
    return filename, entry


def parse_voc(data: bytes, filename: str) -> dict[str, ImportedLabels]:
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return dict(_parse_voc_xml(archive.read(name), name) for name in archive.namelist()
                        if name.lower().endswith(".xml"))
    return dict([_parse_voc_xml(data, filename)])


def _yolo_names(archive: zipfile.ZipFile) -> list[str]:
    for name in archive.namelist():
        base = posixpath.basename(name)
        if base in ("classes.txt", "obj.names"):
            return [line.strip() for line in archive.read(name).decode().splitlines()
                    if line.strip()]
        if base in ("data.yaml", "dataset.yaml"):
            names = (yaml.safe_load(archive.read(name)) or {}).get("names", [])
            return list(names.values()) if isinstance(names, dict) else list(names)
    return []


def parse_yolo(data: bytes, sizes: dict[str, tuple[int, int]]) -> dict[str, ImportedLabels]:
    """YOLO boxes (cls cx cy w h) or polygons (cls x1 y1 x2 y2 ...), normalized to [0, 1].

    ``sizes`` maps an image stem to its (width, height) to convert to pixels. An empty label
    file marks a good part.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise Unprocessable("YOLO labels must be a zip of .txt files (plus classes.txt)")
    labels: dict[str, ImportedLabels] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = _yolo_names(archive)
        for member in archive.namelist():
            base = posixpath.basename(member)
            if not base.endswith(".txt") or base == "classes.txt":
                continue
            stem = posixpath.splitext(base)[0]
            if stem not in sizes:
                labels[stem] = ImportedLabels()
                continue
            width, height = sizes[stem]
            entry = ImportedLabels(is_defect=False)
            for number, line in enumerate(archive.read(member).decode().splitlines(), 1):
                values = line.split()
                if not values:
                    continue
                try:
                    index, coords = int(values[0]), [float(v) for v in values[1:]]
                except ValueError:
                    raise Unprocessable(f"{member} line {number}: not numbers") from None
                class_name = names[index] if index < len(names) else str(index)
                if len(coords) == 4:
                    cx, cy, w, h = coords
                    entry.annotations.append(_box(class_name, (cx - w / 2) * width,
                                                  (cy - h / 2) * height, w * width, h * height))
                elif len(coords) >= 6 and len(coords) % 2 == 0:
                    points = [(coords[i] * width, coords[i + 1] * height)
                              for i in range(0, len(coords), 2)]
                    entry.annotations.append({"type": "polygon", "class_name": class_name,
                                              "points": points})
                else:
                    raise Unprocessable(f"{member} line {number}: expected 4 numbers (box) or "
                                        f"an even number >= 6 (polygon) after the class")
                entry.is_defect = True
            labels[stem] = entry
    return labels


CSV_COLUMNS = {"path": ("path", "file", "filename", "file_name", "image"),
               "class_name": ("class_name", "class", "label"),
               "is_defect": ("is_defect", "defect"),
               "split": ("split",)}
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "defect", "ng"}, {"false", "0", "no", "good",
                                                                   "ok"}
SPLITS = ("train", "val", "test")


def parse_csv(data: bytes, filename: str) -> dict[str, ImportedLabels]:
    """One row per image: a header naming ``path`` and any of ``class_name``, ``is_defect``
    (true/false, yes/no, defect/good) and ``split`` (train, val, test). An empty cell leaves
    that label unset. A bad cell is refused with its line and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unprocessable(f"{filename}: not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(rows, [])]
    columns = {name: next((header.index(alias) for alias in aliases if alias in header), None)
               for name, aliases in CSV_COLUMNS.items()}
    if columns["path"] is None:
        raise Unprocessable(f"{filename} line 1: the header needs a path column (one of "
                            f"{', '.join(CSV_COLUMNS['path'])})")
    labels: dict[str, ImportedLabels] = {}
    for number, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            index = columns[name]
            return row[index].strip() if index is not None and index < len(row) else ""

        path = cell("path")
        if not path:
            raise Unprocessable(f"{filename} line {number}: the path is empty")
        defect = cell("is_defect").lower()
        if defect and defect not in TRUE_WORDS | FALSE_WORDS:
            raise Unprocessable(f"{filename} line {number}: is_defect must be true or false, "
                                f"not {defect!r}")
        split = cell("split").lower()
        if split and split not in SPLITS:
            raise Unprocessable(f"{filename} line {number}: split must be one of "
                                f"{', '.join(SPLITS)}, not {split!r}")
        labels[path] = ImportedLabels(
            image_class=cell("class_name") or None, split=split or None,
            is_defect=(defect in TRUE_WORDS) if defect else None, has_annotations=False)
    return labels


def labels_from_folders(paths: list[str]) -> dict[str, ImportedLabels]:
    """``<class>/<file>``: each image is labeled with the name of the folder it is in;
    images at the top level stay unlabeled."""
    return {path: ImportedLabels(image_class=posixpath.basename(posixpath.dirname(path)),
                                 has_annotations=False)
            for path in paths if "/" in path}


def coco_document(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A COCO detection/segmentation document for exported items (ids in listing order)."""
    classes = sorted({a["class_name"] for item in items for a in item["annotations"]}
                     | {item["class_name"] for item in items if item["class_name"]})
    category = {name: index + 1 for index, name in enumerate(classes)}
    images, annotations = [], []
    for image_id, item in enumerate(items, 1):
        images.append({"id": image_id, "file_name": item["path"], "width": item["width"],
                       "height": item["height"]})
        for annotation in item["annotations"]:
            entry = {"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                     "category_id": category[annotation["class_name"]]}
            if annotation["type"] == "box":
                entry["bbox"] = [annotation["x"], annotation["y"], annotation["width"],
                                 annotation["height"]]
                entry["area"] = annotation["width"] * annotation["height"]
            elif annotation["type"] == "polygon":
                xs = [p[0] for p in annotation["points"]]
                ys = [p[1] for p in annotation["points"]]
                entry["segmentation"] = [[v for point in annotation["points"] for v in point]]
                entry["bbox"] = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                entry["area"] = entry["bbox"][2] * entry["bbox"][3]
            else:
                entry["segmentation"] = {"size": annotation["size"],
                                         "counts": annotation["counts"]}
            annotations.append(entry)
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in category.items()]}
