"""Writing annotated images as one COCO JSON file, the inverse of ``read_coco``: what a split of
any annotation format becomes, so the detectors read one file per split.

    write_coco(found.images[:10], found.class_names, Path("train.json"), file_names)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.data.annotations import AnnotatedImage, Polygons, Rle


def _segmentation(shape: Polygons | Rle | None) -> Any:
    """An outline as COCO writes it: polygons as they are, an RLE with text counts, none
    as an empty list."""
    if shape is None:
        return []
    if isinstance(shape, dict):
        counts = shape["counts"]
        return {"size": list(shape["size"]),
                "counts": counts.decode() if isinstance(counts, bytes) else counts}
    return [list(polygon) for polygon in shape]


def write_coco(images: list[AnnotatedImage], class_names: list[str], path: Path,
               file_names: list[str]) -> None:
    """``images`` with their objects into the COCO file ``path``; ``file_names[i]`` is where
    image i lies, relative to the file's folder (category ids are the class indices)."""
    entries, annotations = [], []
    for number, (image, name) in enumerate(zip(images, file_names, strict=True)):
        entries.append({"id": number, "file_name": name, "height": image.height,
                        "width": image.width})
        for box, label, shape in zip(image.boxes.tolist(), image.labels.tolist(), image.shapes,
                                     strict=True):
            x0, y0, x1, y1 = box
            annotations.append({
                "id": len(annotations), "image_id": number, "category_id": int(label),
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                "iscrowd": 0, "segmentation": _segmentation(shape)})
    categories = [{"id": index, "name": name} for index, name in enumerate(class_names)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": entries, "annotations": annotations,
                                "categories": categories}))
