"""``hatchery plan`` and ``hatchery run``: the recipe from the data and the goal, and the whole
way from a folder of images to a model directory in one command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from engine.planning.run import RunRequest

TASKS = ("classify", "anomaly", "detect", "segment")


def _shared_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="folder of images (searched recursively)")
    parser.add_argument("--task", required=True, choices=TASKS,
                        help="sort into classes, find anything abnormal, locate or outline "
                             "defects")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels", help="annotations: COCO .json, Pascal VOC or YOLO folder")
    labels.add_argument("--masks", help="folder of defect masks (may lie inside --data)")
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def add_planning_commands(commands: argparse._SubParsersAction) -> None:
    plan = commands.add_parser("plan", help="the recipe for this data and goal, with reasons")
    _shared_flags(plan)
    plan.add_argument("--out", default="plan.yaml", help="plan file to write")
    run = commands.add_parser("run", help="analyze, plan, pretrain, finetune, evaluate")
    _shared_flags(run)
    run.add_argument("--out", required=True, help="run folder (run again to resume)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _request(args: argparse.Namespace, out: str) -> RunRequest:
    from engine.planning.run import RunRequest

    if args.budget_minutes <= 0:
        raise SystemExit(f"hatchery: --budget-minutes must be positive, not {args.budget_minutes}")
    return RunRequest(data=args.data, task=args.task, out=out, labels=args.labels,
                      masks=args.masks, budget_minutes=args.budget_minutes,
                      device=args.device, progress_bar=not getattr(args, "quiet", False))


def run_plan(args: argparse.Namespace) -> int:
    from engine.planning.run import plan_for

    plan = plan_for(_request(args, args.out))
    print(plan.text())
    Path(args.out).write_text(yaml.safe_dump(plan.as_dict(), sort_keys=False))
    print(f"plan: {args.out}")
    return 0


def run_run(args: argparse.Namespace) -> int:
    from engine.planning.run import run_end_to_end

    run_end_to_end(_request(args, args.out))
    return 0
