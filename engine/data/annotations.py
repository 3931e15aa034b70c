"""Boxes and outlines of objects from COCO JSON, Pascal VOC XML or YOLO text files, read into
one form: a list of images, each with its boxes, class indices and (where drawn) outlines,
and the class names.

    found = read_annotations("train.json")                # COCO: a .json file
    found = read_annotations("neu-det")                   # VOC: the .xml files under a folder
    found = read_annotations("Datasets/images/train")     # YOLO: labels/train/*.txt
    found.images[0].boxes    # float32 [K, 4]: x0, y0, x1, y1 in pixels
    found.images[0].labels   # int64 [K]: indices into found.class_names
    found.images[0].masks()  # bool [K, H, W] (images whose objects have outlines)

- COCO: ``images``, ``annotations`` (``bbox`` [x, y, w, h], ``segmentation`` polygons or
  RLE) and ``categories`` (class names in the order of their ids); an image's
  ``file_name`` is found beside the .json file or under an ``images/`` folder there.
  ``iscrowd`` regions are left out.
- Pascal VOC: one .xml per image (``filename``, ``object/name``, ``object/bndbox``), its
  image anywhere under the folder (the one nearest the .xml when names repeat). Boxes only.
- YOLO: one .txt per image, ``class cx cy w h`` (a box) or ``class x1 y1 x2 y2 ...`` (a
  polygon), normalized to [0, 1]; the .txt of ``.../images/a/b.jpg`` is
  ``.../labels/a/b.txt`` (or beside the image); no .txt or an empty one: no object. Class
  names come from a ``data.yaml`` (``names``) or ``classes.txt`` in the folder or up to
  three above it.

Every image is listed, those without an object too (a good part is a lesson as well). A
file that cannot be used raises ``AnnotationError`` naming the file and the line or field.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from PIL import Image
from pycocotools import mask as mask_utils

from engine.data.folder import IMAGE_SUFFIXES, scan_image_folder
from engine.errors import HatcheryInputError

AnnotationFormat = Literal["coco", "voc", "yolo"]
Polygons = list[list[float]]  # an object's outline: flat [x0, y0, x1, y1, ...] in pixels
Rle = dict[str, Any]  # COCO run-length encoding: {"size": [h, w], "counts": ...}
# normalized YOLO coordinates this far outside [0, 1] are rounding and are clipped
YOLO_TOLERANCE = 1e-3
PARENTS_SEARCHED = 3  # for data.yaml / classes.txt


class AnnotationError(HatcheryInputError):
    """Annotations that cannot be used; the message names the file and line or field."""


@dataclass
class AnnotatedImage:
    """One image and its objects."""

    path: Path
    height: int
    width: int
    boxes: np.ndarray  # float32 [K, 4]: x0, y0, x1, y1 in pixels
    labels: np.ndarray  # int64 [K]: indices into the set's class names
    shapes: list[Polygons | Rle | None]  # per object: its outline; None: a box only

    @property
    def outlined(self) -> bool:
        """Every object has an outline (an image without objects trivially)."""
        return all(shape is not None for shape in self.shapes)

    def masks(self) -> np.ndarray:
        """bool [K, H, W]: each object's outline filled (its box where it has none)."""
        masks = np.zeros((len(self.shapes), self.height, self.width), bool)
        for index, shape in enumerate(self.shapes):
            masks[index] = shape_mask(shape, self.boxes[index], self.height, self.width)
        return masks


@dataclass
class AnnotationSet:
    format: AnnotationFormat
    images: list[AnnotatedImage]
    class_names: list[str]
    sources: list[Path] = field(default_factory=list)  # the annotation files read

    @property
    def objects(self) -> int:
        return sum(len(image.labels) for image in self.images)

    @property
    def outlined(self) -> bool:
        """Every object of every image has an outline (what instance segmentation needs)."""
        return all(image.outlined for image in self.images)

    def first_without_outline(self) -> Path | None:
        return next((image.path for image in self.images if not image.outlined), None)

    def require_outlines(self, source: str | Path) -> None:
        """Refuse, naming the first offending image, a set (read from ``source``) that
        instance segmentation cannot learn from: an object with a box and no outline."""
        missing = self.first_without_outline()
        if missing is not None:
            raise AnnotationError(
                f"{source}: segmentation learns outlines, but {missing} has a box without "
                "one: outline every object (COCO polygons or RLE, YOLO polygons) or train "
                "the detect task")


def shape_mask(shape: Polygons | Rle | None, box: np.ndarray, height: int, width: int
               ) -> np.ndarray:
    """bool [height, width] of one object: its polygons or RLE filled, or its box."""
    if shape is None:
        mask = np.zeros((height, width), bool)
        x0, y0, x1, y1 = box
        mask[int(y0):math.ceil(y1), int(x0):math.ceil(x1)] = True
        return mask
    if isinstance(shape, dict):
        rle = shape if isinstance(shape["counts"], (str, bytes)) else \
            mask_utils.frPyObjects(shape, height, width)
        if isinstance(rle["counts"], str):
            rle = {"size": rle["size"], "counts": rle["counts"].encode()}
    else:
        rle = mask_utils.merge(mask_utils.frPyObjects(shape, height, width))
    return mask_utils.decode(rle).astype(bool)


def read_annotations(source: str | Path, format: Literal["auto", AnnotationFormat] = "auto",
                     class_names: list[str] | None = None) -> AnnotationSet:
    """The annotations at ``source`` (a COCO .json file, or a folder of VOC .xml files or
    YOLO images and labels). ``class_names`` (a training set's): the classes found must be
    among them and take their indices, so train and val agree."""
    path = Path(source)
    if not path.exists():
        raise AnnotationError(f"annotations {path} do not exist")
    chosen = format if format != "auto" else detect_format(path)
    reader = {"coco": read_coco, "voc": read_voc, "yolo": read_yolo}[chosen]
    return reader(path, class_names)


def detect_format(path: Path) -> AnnotationFormat:
    """coco for a .json file; voc for a folder with .xml files; yolo for a folder whose
    images have label .txt files."""
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        raise AnnotationError(f"{path}: annotations are a COCO .json file or a folder (Pascal "
                              "VOC .xml files, or YOLO images and labels)")
    if next(path.rglob("*.xml"), None) is not None:
        return "voc"
    images = _images_under(path)
    if any(_yolo_label(image).is_file() for image in images):
        return "yolo"
    raise AnnotationError(f"{path} holds no annotations: expected a COCO .json file, Pascal "
                          "VOC .xml files, or YOLO images/ with labels/ (.txt per image)")


# ------------------------------------------------------------------------------------ COCO
def read_coco(path: Path, class_names: list[str] | None = None) -> AnnotationSet:
    if path.is_dir():
        found = sorted(path.glob("*.json"))
        if len(found) != 1:
            raise AnnotationError(f"{path}: give the COCO .json file itself "
                                  f"({len(found)} .json files here)")
        path = found[0]
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path} line {error.lineno}: not valid JSON: {error.msg}"
                              ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path} cannot be read: {error}") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: a COCO file is a JSON object with images, "
                              "annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{path}: {key}: missing or not a list")

    categories: dict[int, str] = {}
    for index, category in enumerate(data["categories"]):
        where = f"{path}: categories[{index}]"
        identifier = _field(category, "id", int, where)
        categories[identifier] = str(_field(category, "name", str, where))
    used = {categories[entry["category_id"]] for entry in data["annotations"]
            if isinstance(entry, dict) and isinstance(entry.get("category_id"), int)
            and entry["category_id"] in categories}
    names, index_of = _class_indices([categories[key] for key in sorted(categories)],
                                     class_names, path, used)
    label_of = {key: index_of[name] for key, name in categories.items() if name in index_of}

    images: dict[int, AnnotatedImage] = {}
    for index, entry in enumerate(data["images"]):
        where = f"{path}: images[{index}]"
        identifier = _field(entry, "id", int, where)
        name = _field(entry, "file_name", str, where)
        image_path = next((candidate for candidate in (path.parent / name,
                                                       path.parent / "images" / name)
                           if candidate.is_file()), None)
        if image_path is None:
            raise AnnotationError(f"{where}.file_name: {name} is neither beside {path.name} "
                                  "nor under images/ there")
        images[identifier] = _new_image(image_path, where)

    objects: dict[int, list[tuple[list[float], int, Polygons | Rle | None]]] = {}
    for index, entry in enumerate(data["annotations"]):
        where = f"{path}: annotations[{index}]"
        if not isinstance(entry, dict):
            raise AnnotationError(f"{where}: not an object")
        if entry.get("iscrowd", 0):
            continue
        image_id = _field(entry, "image_id", int, where)
        if image_id not in images:
            raise AnnotationError(f"{where}.image_id: no image has id {image_id}")
        category = _field(entry, "category_id", int, where)
        if category not in label_of:
            raise AnnotationError(f"{where}.category_id: no category has id {category}")
        bbox = entry.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            raise AnnotationError(f"{where}.bbox: expected [x, y, width, height], numbers")
        x, y, width, height = (float(v) for v in bbox)
        image = images[image_id]
        shape = _coco_shape(entry.get("segmentation"), image, f"{where}.segmentation")
        box = _checked_box([x, y, x + width, y + height], image, f"{where}.bbox")
        objects.setdefault(image_id, []).append((box, label_of[category], shape))
    for image_id, image in images.items():
        _set_objects(image, objects.get(image_id, []))
    return AnnotationSet("coco", list(images.values()), names, [path])


def _coco_shape(segmentation: Any, image: AnnotatedImage, where: str) -> Polygons | Rle | None:
    if segmentation is None or segmentation == []:
        return None
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        if size != [image.height, image.width] or "counts" not in segmentation:
            raise AnnotationError(f"{where}: an RLE needs counts and size [{image.height}, "
                                  f"{image.width}] (the image's), got size {size}")
        return {"size": size, "counts": segmentation["counts"]}
    if not isinstance(segmentation, list):
        raise AnnotationError(f"{where}: expected polygons (lists of x, y) or an RLE")
    polygons = []
    for number, polygon in enumerate(segmentation):
        if not (isinstance(polygon, list) and all(_is_number(v) for v in polygon)):
            raise AnnotationError(f"{where}[{number}]: a polygon is a list of numbers")
        if len(polygon) < 6 or len(polygon) % 2:
            raise AnnotationError(f"{where}[{number}]: a polygon needs an even number of "
                                  f"coordinates, at least 6; got {len(polygon)}")
        polygons.append([float(v) for v in polygon])
    return polygons


# ------------------------------------------------------------------------------ Pascal VOC
def read_voc(path: Path, class_names: list[str] | None = None) -> AnnotationSet:
    if not path.is_dir():
        raise AnnotationError(f"{path}: Pascal VOC annotations are a folder of .xml files")
    files = sorted(path.rglob("*.xml"))
    if not files:
        raise AnnotationError(f"{path} holds no Pascal VOC .xml file")
    by_name: dict[str, list[Path]] = {}
    for image_path in _images_under(path):
        by_name.setdefault(image_path.name, []).append(image_path)

    parsed = []
    for file in files:
        try:
            root = ElementTree.parse(file).getroot()
        except ElementTree.ParseError as error:
            raise AnnotationError(f"{file} line {error.position[0]}: not well-formed XML"
                                  ) from None
        name = (root.findtext("filename") or "").strip()
        image_path = _voc_image(file, name, by_name)
        objects = []
        for number, element in enumerate(root.findall("object"), 1):
            where = f"{file}: object {number}"
            label = (element.findtext("name") or "").strip()
            if not label:
                raise AnnotationError(f"{where}: no <name>")
            corners = []
            for tag in ("xmin", "ymin", "xmax", "ymax"):
                text = element.findtext(f"bndbox/{tag}")
                if text is None:
                    raise AnnotationError(f"{where} ({label}): no <bndbox>/<{tag}>")
                try:
                    corners.append(float(text))
                except ValueError:
                    raise AnnotationError(f"{where} ({label}): <{tag}> {text.strip()!r} is not "
                                          "a number") from None
            objects.append((corners, label, where))
        parsed.append((image_path, objects, file))

    found = sorted({label for _, objects, _ in parsed for _, label, _ in objects})
    names, index_of = _class_indices(found, class_names, path)
    images = []
    for image_path, objects, file in parsed:
        image = _new_image(image_path, f"{file}: filename")
        _set_objects(image, [(_checked_box(corners, image, f"{where} <bndbox>"),
                              index_of[label], None)
                             for corners, label, where in objects])
        images.append(image)
    return AnnotationSet("voc", images, names, files)


def _voc_image(file: Path, name: str, by_name: dict[str, list[Path]]) -> Path:
    """The image an .xml file describes: its ``filename`` (without an image suffix there, or
    without a filename, the image of that stem or of the .xml's own), the one nearest the
    .xml when several have the name."""
    candidates = by_name.get(name, []) if name else []
    if not candidates and Path(name).suffix.lower() not in IMAGE_SUFFIXES:
        stem = name or file.stem  # some tools write the name without its suffix, or none
        candidates = [path for suffix in sorted(IMAGE_SUFFIXES)
                      for path in by_name.get(f"{stem}{suffix}", [])]
    if not candidates:
        raise AnnotationError(f"{file}: filename: no image {name or file.stem + '.*'} under "
                              "the annotation folder")
    if len(candidates) > 1:
        for rank in (lambda p: p.parent == file.parent,
                     lambda p: p.parent.parent == file.parent.parent):
            near = [p for p in candidates if rank(p)]
            if len(near) == 1:
                return near[0]
        raise AnnotationError(f"{file}: filename: {len(candidates)} images are named "
                              f"{candidates[0].name}; keep one per annotation folder")
    return candidates[0]


# ------------------------------------------------------------------------------------ YOLO
def read_yolo(path: Path, class_names: list[str] | None = None) -> AnnotationSet:
    if not path.is_dir():
        raise AnnotationError(f"{path}: YOLO annotations are a folder of images with labels/")
    image_paths = _images_under(path)
    if not image_paths:
        raise AnnotationError(f"{path} holds no readable image")
    declared, names_file = _yolo_names(path)
    parsed = []
    for image_path in image_paths:
        label_file = _yolo_label(image_path)
        rows = _yolo_rows(label_file) if label_file.is_file() else []
        parsed.append((image_path, label_file, rows))
    largest = max((row[1] for _, _, rows in parsed for row in rows), default=-1)
    if declared is None:
        declared = [f"class_{index}" for index in range(largest + 1)]
    elif largest >= len(declared):
        file, number = next((label_file, row[0]) for _, label_file, rows in parsed
                            for row in rows if row[1] == largest)
        raise AnnotationError(f"{file} line {number}: class {largest}, but {names_file} names "
                              f"{len(declared)} class(es)")
    used = {declared[row[1]] for _, _, rows in parsed for row in rows}
    names, index_of = _class_indices(declared, class_names, names_file or path, used)
    images = []
    sources = [names_file] if names_file else []
    for image_path, label_file, rows in parsed:
        image = _new_image(image_path, str(label_file))
        objects = []
        for number, label, coords in rows:
            where = f"{label_file} line {number}"
            scaled = [value * (image.width if i % 2 == 0 else image.height)
                      for i, value in enumerate(coords)]
            if len(coords) == 4:
                cx, cy, w, h = scaled
                objects.append((_checked_box([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                                             image, where), index_of[declared[label]], None))
            else:
                xs, ys = scaled[0::2], scaled[1::2]
                box = _checked_box([min(xs), min(ys), max(xs), max(ys)], image,
                                   f"{where} (the polygon's extent)")
                objects.append((box, index_of[declared[label]], [scaled]))
        _set_objects(image, objects)
        images.append(image)
        if label_file.is_file():
            sources.append(label_file)
    return AnnotationSet("yolo", images, names, sources)


def _yolo_label(image: Path) -> Path:
    """``.../images/x/a.jpg`` -> ``.../labels/x/a.txt`` (the last ``images`` part), else the
    .txt beside the image."""
    parts = image.parts
    if "images" in parts[:-1]:
        index = len(parts) - 2 - parts[:-1][::-1].index("images")
        candidate = Path(*parts[:index], "labels", *parts[index + 1:]).with_suffix(".txt")
        if candidate.is_file() or not image.with_suffix(".txt").is_file():
            return candidate
    return image.with_suffix(".txt")


def _yolo_rows(file: Path) -> list[tuple[int, int, list[float]]]:
    """(line number, class, normalized coordinates clipped to [0, 1]) of each object."""
    rows = []
    try:
        lines = file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{file} cannot be read: {error}") from None
    for number, line in enumerate(lines, 1):
        values = line.split()
        if not values:
            continue
        where = f"{file} line {number}"
        try:
            label = int(values[0])
        except ValueError:
            raise AnnotationError(f"{where}: the class {values[0]!r} is not a whole number"
                                  ) from None
        if label < 0:
            raise AnnotationError(f"{where}: the class {label} is negative")
        try:
            coords = [float(value) for value in values[1:]]
        except ValueError:
            raise AnnotationError(f"{where}: coordinates are not numbers") from None
        if len(coords) != 4 and (len(coords) < 6 or len(coords) % 2):
            raise AnnotationError(f"{where}: expected 'class cx cy w h' (a box) or 'class x1 "
                                  f"y1 x2 y2 x3 y3 ...' (a polygon); got {len(coords)} "
                                  "coordinates")
        if any(not -YOLO_TOLERANCE <= value <= 1 + YOLO_TOLERANCE or not math.isfinite(value)
               for value in coords):
            raise AnnotationError(f"{where}: coordinates are normalized to [0, 1]; a value "
                                  "lies outside")
        rows.append((number, label, [min(1.0, max(0.0, value)) for value in coords]))
    return rows


def _yolo_names(folder: Path) -> tuple[list[str] | None, Path | None]:
    """Class names from the nearest ``data.yaml`` (``names``: a list or {index: name}) or
    ``classes.txt``, searching ``folder`` and up to three folders above it."""
    for directory in [folder, *folder.resolve().parents[:PARENTS_SEARCHED]]:
        for file in (directory / "data.yaml", directory / "dataset.yaml"):
            if file.is_file():
                return _names_of_yaml(file), file
        classes = directory / "classes.txt"
        if classes.is_file():
            return [line.strip() for line in classes.read_text().splitlines()
                    if line.strip()], classes
    return None, None


def _names_of_yaml(file: Path) -> list[str]:
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise AnnotationError(f"{file}{line}: not valid YAML") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(key, int) for key in names):
        if sorted(names) != list(range(len(names))):
            raise AnnotationError(f"{file}: names: the class indices must be 0 .. "
                                  f"{len(names) - 1}")
        return [str(names[index]) for index in range(len(names))]
    if isinstance(names, list) and names:
        return [str(name) for name in names]
    raise AnnotationError(f"{file}: names: expected a list of class names")


# ---------------------------------------------------------------------------------- shared
def _images_under(folder: Path) -> list[Path]:
    return scan_image_folder(folder).paths


def _new_image(path: Path, where: str) -> AnnotatedImage:
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as error:  # any header failure: the image cannot be used
        raise AnnotationError(f"{where}: image {path} cannot be read: {error}") from None
    return AnnotatedImage(path, height, width, np.zeros((0, 4), np.float32),
                          np.zeros(0, np.int64), [])


def _set_objects(image: AnnotatedImage,
                 objects: list[tuple[list[float], int, Polygons | Rle | None]]) -> None:
    image.boxes = np.array([box for box, _, _ in objects], np.float32).reshape(-1, 4)
    image.labels = np.array([label for _, label, _ in objects], np.int64)
    image.shapes = [shape for _, _, shape in objects]


def _checked_box(corners: list[float], image: AnnotatedImage, where: str) -> list[float]:
    """x0, y0, x1, y1 clipped to the image; refused when nothing of it is left."""
    if not all(math.isfinite(value) for value in corners):
        raise AnnotationError(f"{where}: coordinates must be finite")
    x0, y0, x1, y1 = corners
    clipped = [min(max(x0, 0.0), image.width), min(max(y0, 0.0), image.height),
               min(max(x1, 0.0), image.width), min(max(y1, 0.0), image.height)]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise AnnotationError(f"{where}: the box ({x0:g}, {y0:g}) - ({x1:g}, {y1:g}) has no "
                              f"area inside the {image.width}x{image.height} image "
                              f"{image.path.name}")
    return clipped


def _class_indices(declared: list[str], class_names: list[str] | None, where: Path,
                   used: set[str] | None = None) -> tuple[list[str], dict[str, int]]:
    """The class names of the set (``class_names`` when given, else those ``declared``)
    and each name's index; a class ``used`` (default: every declared one) that is not among
    ``class_names`` is an error."""
    names = list(class_names) if class_names is not None else list(dict.fromkeys(declared))
    index_of = {name: index for index, name in enumerate(names)}
    unknown = sorted(name for name in (used if used is not None else set(declared))
                     if name not in index_of)
    if unknown:
        raise AnnotationError(f"{where}: class {unknown[0]!r} is not one of the training "
                              f"classes ({', '.join(names)})")
    return names, index_of


def _field(entry: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: not an object")
    value = entry.get(key)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        wanted = "a whole number" if kind is int else "a string"
        raise AnnotationError(f"{where}.{key}: missing or not {wanted}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
