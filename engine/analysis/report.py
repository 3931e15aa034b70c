"""``hatchery analyze``: one pass over a folder of images, and what it says about them.

    report = analyze_folder("parts/", labels="parts/annotations.json")
    print(report.text())                    # the readable report
    report.as_dict()                        # the JSON report
    write_groups(report, "groups.csv")      # path,group: every split keeps a group together

The report holds: image count and unreadable files; resolutions and aspect ratios; channels,
bit depth and whether color files hold gray pixels; intensity statistics; exact and near
duplicates; groups of shots of one physical part (``engine.analysis.shots``); label counts,
imbalance and defect sizes (``engine.analysis.labels``); the texture's orientation
(``engine.analysis.texture``).
"""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.analysis.images import ImageFacts, ReadImages, read_images
from engine.analysis.labels import LabelFacts, class_folders, from_annotations, from_masks
from engine.analysis.shots import (
    NEAR_DUPLICATE,
    SAME_PART,
    connected_groups,
    plain_descriptors,
    similar_pairs,
    texture_descriptors,
)
from engine.analysis.texture import Orientation, texture_orientation
from engine.data.annotations import read_annotations
from engine.data.folder import DataFolderError, FolderScan, scan_image_folder

EXAMPLES = 5  # duplicate and group examples printed in the text report
# Near duplicates differ in mean gray level (0..1) by at most this, and in contrast by at
# most this fraction of it.
EXPOSURE_TOLERANCE = 0.02


@dataclass
class DataReport:
    """Everything ``analyze_folder`` found; ``groups[i]`` is the group id of ``paths[i]``."""

    root: Path
    read: ReadImages
    groups: list[int]
    exact_duplicates: list[list[str]]
    near_duplicates: list[list[str]]
    orientation: Orientation | None
    labels: LabelFacts | None
    seconds: float

    @property
    def paths(self) -> list[str]:
        return [facts.path for facts in self.read.images]

    @property
    def multi_shot_groups(self) -> list[list[str]]:
        """Groups of more than one image, largest first."""
        members: dict[int, list[str]] = defaultdict(list)
        for path, group in zip(self.paths, self.groups, strict=True):
            members[group].append(path)
        return sorted((paths for paths in members.values() if len(paths) > 1),
                      key=lambda paths: (-len(paths), paths[0]))

    @property
    def gray(self) -> bool:
        """Every image holds gray pixels (single-channel, or color files with equal channels)."""
        return all(facts.gray_content for facts in self.read.images)

    @property
    def short_sides(self) -> np.ndarray:
        return np.array([min(f.width, f.height) for f in self.read.images])

    def as_dict(self) -> dict:
        images = self.read.images
        widths = np.array([f.width for f in images])
        heights = np.array([f.height for f in images])
        aspects = widths / heights
        means = np.array([f.mean for f in images])
        groups = self.multi_shot_groups
        return {
            "data": str(self.root),
            "images": len(images),
            "unreadable": [{"file": path, "reason": why} for path, why in self.read.unreadable],
            "resolution": {
                "distinct_sizes": len({(f.width, f.height) for f in images}),
                "width": _spread(widths), "height": _spread(heights),
                "aspect_ratio": _spread(aspects),
                "most_common": [{"width": w, "height": h, "images": n} for (w, h), n in
                                Counter((f.width, f.height) for f in images).most_common(3)],
            },
            "color": {
                "stored": dict(Counter("gray" if f.channels == 1 else "color" for f in images)),
                "gray_content": self.gray,
                "bit_depths": {str(bits): n for bits, n in
                               sorted(Counter(f.bit_depth for f in images).items())},
            },
            "intensity": {"mean": round(float(means.mean()), 4),
                          "spread_of_image_means": round(float(means.std()), 4),
                          "median_contrast": round(float(np.median([f.std for f in images])),
                                                   4)},
            "duplicates": {"exact": self.exact_duplicates, "near": self.near_duplicates},
            "groups": {"multi_shot_groups": len(groups),
                       "images_in_them": sum(len(g) for g in groups),
                       "largest": len(groups[0]) if groups else 1,
                       "examples": groups[:EXAMPLES]},
            "labels": None if self.labels is None else self.labels.as_dict(),
            "orientation": None if self.orientation is None else self.orientation.as_dict(),
            "seconds": round(self.seconds, 2),
        }

    def text(self) -> str:
        """The report in plain words, one finding per line."""
        report = self.as_dict()
        resolution, color = report["resolution"], report["color"]
        lines = [f"{report['images']} images in {report['data']}"
                 f" ({len(report['unreadable'])} unreadable)"]
        lines += [f"  unreadable: {u['file']}: {u['reason']}"
                  for u in report["unreadable"][:EXAMPLES]]
        width, height = resolution["width"], resolution["height"]
        lines.append(f"size: {width['min']}-{width['max']} x {height['min']}-{height['max']} px"
                     f" ({resolution['distinct_sizes']} distinct), aspect "
                     f"{resolution['aspect_ratio']['min']}-{resolution['aspect_ratio']['max']}")
        kind = "gray" if color["gray_content"] else "color"
        lines.append(f"pixels: {kind} ({color['stored']}), bit depths {color['bit_depths']}")
        intensity = report["intensity"]
        lines.append(f"intensity: mean {intensity['mean']}, image means vary by "
                     f"{intensity['spread_of_image_means']}, median contrast "
                     f"{intensity['median_contrast']}")
        for name, sets in (("exact duplicates", self.exact_duplicates),
                           ("near duplicates", self.near_duplicates)):
            lines.append(f"{name}: {len(sets)} sets"
                         + "".join(f"\n  {' = '.join(s)}" for s in sets[:EXAMPLES]))
        groups = report["groups"]
        lines.append(f"shots of one part: {groups['multi_shot_groups']} groups holding "
                     f"{groups['images_in_them']} images (largest {groups['largest']}); every "
                     "split keeps a group on one side"
                     + "".join(f"\n  {', '.join(g[:6])}" for g in groups["examples"]))
        if self.labels is not None:
            labels = report["labels"]
            lines.append(f"labels from {labels['source']}: {labels['class_counts']}"
                         + (f", imbalance {labels['imbalance']}:1" if labels["imbalance"] else ""))
            sizes = labels["defect_sizes"]
            if sizes:
                lines.append(f"defects: {sizes['count']}, shorter side median "
                             f"{sizes['short_side_px']['median']} px (10% under "
                             f"{sizes['short_side_px']['p10']} px), longer side "
                             f"{sizes['relative_to_image']['median']:.1%} of the image")
        if self.orientation is not None:
            o = self.orientation
            verdict = ("no preferred direction: rotations and flips are safe"
                       if o.rotation_invariant else
                       f"directional (lines at {o.direction_degrees:.0f} degrees): no rotations")
            lines.append(f"texture: coherence {o.coherence:.2f}, {verdict}")
        lines.append(f"analyzed in {report['seconds']} s")
        return "\n".join(lines)


def _spread(values: np.ndarray) -> dict[str, float | int]:
    def number(value: float) -> float | int:
        return int(value) if float(value).is_integer() else round(float(value), 3)

    return {"min": number(values.min()), "median": number(np.median(values)),
            "max": number(values.max())}


def _duplicate_sets(read: ReadImages) -> tuple[list[list[str]], list[list[str]]]:
    """Exact duplicates (same bytes) and near duplicates (the same picture re-encoded or
    resized: thumbnails correlating above ``NEAR_DUPLICATE``, bytes differing)."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for facts in read.images:
        by_hash[facts.sha1].append(facts.path)
    exact = sorted(paths for paths in by_hash.values() if len(paths) > 1)
    pairs = similar_pairs(plain_descriptors(read.thumbnails), NEAR_DUPLICATE)
    near_pairs = [(i, j, s) for i, j, s in pairs
                  if read.images[i].sha1 != read.images[j].sha1
                  and same_exposure(read.images[i], read.images[j])]
    labels = connected_groups(len(read.images), near_pairs)
    members: dict[int, list[str]] = defaultdict(list)
    touched = {index for i, j, _ in near_pairs for index in (i, j)}
    for index in sorted(touched):
        members[labels[index]].append(read.images[index].path)
    return exact, sorted(paths for paths in members.values() if len(paths) > 1)


def same_exposure(first: ImageFacts, second: ImageFacts) -> bool:
    """Mean gray level and contrast alike (within ``EXPOSURE_TOLERANCE``): a re-saved copy,
    not the same part under another lighting."""
    return (abs(first.mean - second.mean) <= EXPOSURE_TOLERANCE
            and abs(first.std - second.std) <= EXPOSURE_TOLERANCE * max(first.std, second.std))


def _scan_without(data: Path, masks: Path | None) -> tuple[FolderScan, list[Path]]:
    """The images under ``data`` and, apart, the mask files (a masks folder may lie inside
    the data folder: its files are masks, not images to learn from)."""
    scan = scan_image_folder(data)
    if masks is None:
        return scan, []
    masks = masks.resolve()
    mask_paths = [path for path in scan_image_folder(masks).paths]
    scan.paths = [path for path in scan.paths if not path.resolve().is_relative_to(masks)]
    return scan, mask_paths


def analyze_folder(data: str | Path, labels: str | Path | None = None,
                   masks: str | Path | None = None) -> DataReport:
    """Analyze every image under ``data``; labels from ``labels`` (annotations), ``masks``
    (a folder of defect masks) or else class folders."""
    started = time.perf_counter()
    root = Path(data)
    scan, mask_paths = _scan_without(root, None if masks is None else Path(masks))
    read = read_images(scan)
    if not read.images:
        raise DataFolderError(f"no readable image in {root}")
    exact, near = _duplicate_sets(read)
    shots = similar_pairs(texture_descriptors(read.thumbnails), SAME_PART)
    label_facts = class_folders(read.images)
    if labels is not None:
        label_facts = from_annotations(read_annotations(labels))
    elif masks is not None:
        label_facts = from_masks(Path(masks), mask_paths)
    return DataReport(root=root, read=read, groups=connected_groups(len(read.images), shots),
                      exact_duplicates=exact, near_duplicates=near,
                      orientation=texture_orientation(read.thumbnails), labels=label_facts,
                      seconds=time.perf_counter() - started)


def write_groups(report: DataReport, path: str | Path) -> None:
    """``path,group`` for every image: paths relative to the data folder, groups named
    ``part0001``...; an image that no other image shares a part with is its own group."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "group"])
        for image_path, group in zip(report.paths, report.groups, strict=True):
            writer.writerow([image_path, f"part{group:04d}"])


def read_groups(path: str | Path) -> dict[str, str]:
    """A groups file (``path,group``, with a header) -> {path: group}."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"path", "group"} <= set(rows[0]):
        raise DataFolderError(f"{path}: a groups file needs the columns path,group")
    return {row["path"]: row["group"] for row in rows}
