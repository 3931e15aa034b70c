"""``hatchery analyze --data DIR [--labels ANNOT | --masks DIR] [--out report.json]
[--groups groups.csv]``: prints the readable report, writes the JSON report and the groups
file that every split of this data keeps together."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_analyze_command(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser("analyze", help="what a folder of images is like")
    analyze.add_argument("--data", required=True, help="folder of images (searched recursively)")
    labels = analyze.add_mutually_exclusive_group()
    labels.add_argument("--labels", help="annotations: COCO .json, Pascal VOC or YOLO folder")
    labels.add_argument("--masks", help="folder of defect masks (may lie inside --data)")
    analyze.add_argument("--out", help="JSON report to write")
    analyze.add_argument("--groups", help="groups file to write (path,group); default: "
                                          "groups.csv beside the JSON report")


def run_analyze(args: argparse.Namespace) -> int:
    from engine.analysis.report import analyze_folder, write_groups

    report = analyze_folder(args.data, labels=args.labels, masks=args.masks)
    print(report.text())
    groups = args.groups
    if args.out is not None:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.as_dict(), indent=2))
        groups = groups or str(out.with_name("groups.csv"))
    if groups is not None:
        write_groups(report, groups)
        print(f"groups: {groups}")
    return 0
