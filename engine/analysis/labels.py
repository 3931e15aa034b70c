"""What the few labels say: class counts and imbalance, and how large the defects are.

Labels come from class folders (``good/``, ``scratch/``: every image in a top-level folder
and at least two of them), from an annotation file or folder (COCO, VOC, YOLO: boxes and
outlines, ``engine.data.annotations``) or from a folder of defect masks. Defect sizes are in
native pixels and relative to the image's shorter side: what decides the input size and the
crop scale a plan may use before a defect vanishes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from engine.analysis.images import ImageFacts
from engine.data.annotations import AnnotationSet


@dataclass
class DefectSizes:
    """One row per defect: its box's shorter and longer side in pixels and its longer side
    relative to the image's shorter side."""

    short_sides: list[float] = field(default_factory=list)
    long_sides: list[float] = field(default_factory=list)
    relative: list[float] = field(default_factory=list)

    def add(self, width: float, height: float, image_short_side: int) -> None:
        self.short_sides.append(float(min(width, height)))
        self.long_sides.append(float(max(width, height)))
        self.relative.append(float(max(width, height)) / max(1, image_short_side))

    def summary(self) -> dict | None:
        """Percentiles of each column, or None without defects."""
        if not self.short_sides:
            return None

        def percentiles(values: list[float]) -> dict[str, float]:
            array = np.asarray(values)
            return {"min": round(float(array.min()), 4),
                    "p10": round(float(np.percentile(array, 10)), 4),
                    "median": round(float(np.median(array)), 4),
                    "max": round(float(array.max()), 4)}

        return {"count": len(self.short_sides),
                "short_side_px": percentiles(self.short_sides),
                "long_side_px": percentiles(self.long_sides),
                "relative_to_image": percentiles(self.relative)}


@dataclass
class LabelFacts:
    source: str  # "class folders" | "annotations <format>" | "masks"
    class_counts: dict[str, int]
    defect_sizes: DefectSizes

    @property
    def imbalance(self) -> float | None:
        """Largest class count over the smallest (None with fewer than two classes)."""
        counts = [count for count in self.class_counts.values() if count > 0]
        if len(counts) < 2:
            return None
        return max(counts) / min(counts)

    def as_dict(self) -> dict:
        imbalance = self.imbalance
        return {"source": self.source, "class_counts": self.class_counts,
                "imbalance": None if imbalance is None else round(imbalance, 2),
                "defect_sizes": self.defect_sizes.summary()}


def class_folders(images: list[ImageFacts]) -> LabelFacts | None:
    """Labels from top-level folders: when every image lies in one and there are >= 2."""
    tops = [facts.path.split("/")[0] if "/" in facts.path else None for facts in images]
    if not tops or None in tops or len(set(tops)) < 2:
        return None
    return LabelFacts("class folders", dict(sorted(Counter(tops).items())), DefectSizes())


def from_annotations(annotations: AnnotationSet) -> LabelFacts:
    """Class counts (objects per class; images without objects as ``(no object)``) and the
    boxes' sizes."""
    counts: Counter[str] = Counter()
    sizes = DefectSizes()
    for image in annotations.images:
        if len(image.labels) == 0:
            counts["(no object)"] += 1
        short_side = min(image.height, image.width)
        for box, label in zip(image.boxes, image.labels, strict=True):
            counts[annotations.class_names[int(label)]] += 1
            sizes.add(float(box[2] - box[0]), float(box[3] - box[1]), short_side)
    return LabelFacts(f"annotations ({annotations.format})", dict(sorted(counts.items())),
                      sizes)


def from_masks(masks: Path, mask_paths: list[Path]) -> LabelFacts:
    """Each connected region of each mask (non-zero pixels) is one defect; an empty mask is
    a good image."""
    counts: Counter[str] = Counter()
    sizes = DefectSizes()
    for path in mask_paths:
        with Image.open(path) as image:
            mask = np.asarray(image.convert("L")) > 0
        regions, found = ndimage.label(mask, structure=np.ones((3, 3)))  # 8-connected
        counts["defect" if found else "good"] += 1
        for rows, columns in ndimage.find_objects(regions):
            sizes.add(columns.stop - columns.start, rows.stop - rows.start, min(mask.shape))
    return LabelFacts(f"masks ({masks})", dict(sorted(counts.items())), sizes)
