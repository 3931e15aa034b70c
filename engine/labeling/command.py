"""``hatchery suggest --checkpoint C --data DIR [--labels ANNOT] [--k 20] [--out F.json]``.

Labels come from class folders under ``DIR`` (``DIR/<class>/x.png``; images directly in
``DIR`` or in ``DIR/unlabeled/`` have none) or from annotations (``--labels``: an image with
objects takes its most frequent object class, an annotated image without objects is
``good``; images the annotations do not list have no label). Prints the ranking and writes
the JSON (``engine.labeling.suggest``)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

UNLABELED_FOLDER = "unlabeled"


def add_suggest_command(commands: argparse._SubParsersAction) -> None:
    suggest = commands.add_parser("suggest", help="which images to label next")
    suggest.add_argument("--checkpoint", required=True, help="a pretrain checkpoint")
    suggest.add_argument("--data", required=True, help="folder of images, labeled or not")
    suggest.add_argument("--labels", help="annotations: COCO .json, Pascal VOC or YOLO folder")
    suggest.add_argument("--k", type=int, default=20, help="images to suggest (20)")
    suggest.add_argument("--out", help="JSON file to write")
    suggest.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def _labels_of(paths: list[str], data: Path, annotations: str | None) -> dict[str, str]:
    """path -> class name for the labeled images."""
    if annotations is None:
        return {path: path.split("/")[0] for path in paths
                if "/" in path and path.split("/")[0] != UNLABELED_FOLDER}
    from engine.data.annotations import read_annotations

    found = read_annotations(annotations)
    by_file = {image.path.resolve(): image for image in found.images}
    labels = {}
    for path in paths:
        image = by_file.get((data / path).resolve())
        if image is None:
            continue
        names = Counter(found.class_names[int(label)] for label in image.labels)
        labels[path] = names.most_common(1)[0][0] if names else "good"
    return labels


def run_suggest(args: argparse.Namespace) -> int:
    from engine.data.folder import scan_image_folder
    from engine.errors import HatcheryInputError
    from engine.labeling.suggest import suggest_for_folder

    if args.k < 1:
        raise HatcheryInputError(f"--k must be at least 1, not {args.k}")
    scan = scan_image_folder(args.data)
    labels = _labels_of([scan.relative(path) for path in scan.paths], Path(args.data),
                        args.labels)
    result = suggest_for_folder(args.checkpoint, args.data, labels, args.k, args.device)
    print(f"{result['images']} images, {result['labeled']} labeled; label these next:")
    for rank, row in enumerate(result["ranked"], 1):
        print(f"{rank:3d}. {row['path']}: {'; '.join(row['reasons'])}")
    for row in result["suspect_labels"]:
        print(f"check the label of {row['path']}: {row['label']}, its neighbours say "
              f"{row['neighbours_say']} ({row['confidence']:.0%})")
    print(f"{len(result['near_duplicates'])} near-duplicate pairs, "
          f"{len(result['untouched_clusters'])} groups of similar images without a label")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0
