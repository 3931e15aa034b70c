"""Labeled image folders: ``root/<class name>/**/<image>``, one sub-folder per class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.data.folder import DataFolderError, scan_image_folder


@dataclass
class LabeledImages:
    paths: list[Path]
    labels: list[int]
    class_names: list[str]
    skipped: list[tuple[str, str]]


def scan_class_folders(root: str | Path, class_names: list[str] | None = None) -> LabeledImages:
    """Images of every class sub-folder. ``class_names`` fixes the label order (the test set
    must use the training set's); a class folder unknown to it is an error."""
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"labeled folder {root} does not exist or is not a directory")
    found = sorted(child.name for child in root.iterdir() if child.is_dir())
    names = class_names if class_names is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataFolderError(f"{root}: class folders {unknown} are not in the training classes")
    paths: list[Path] = []
    labels: list[int] = []
    skipped: list[tuple[str, str]] = []
    for label, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            continue
        scan = scan_image_folder(folder)
        paths += scan.paths
        labels += [label] * len(scan.paths)
        skipped += scan.skipped
    minimum_classes = 2 if class_names is None else 1
    if len(set(labels)) < minimum_classes:
        raise DataFolderError(
            f"{root} needs one sub-folder of images per class (at least two classes with images)"
        )
    return LabeledImages(paths, labels, list(names), skipped)
