"""The ``hatchery`` command: pretrain, embed, eval knn, finetune anomaly|classify, predict,
export.

Bad input (a missing folder, an unknown option, an impossible config) prints one line
``hatchery: error: ...`` and exits with status 2, having written nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from engine.analysis.command import add_analyze_command, run_analyze
from engine.downstream.commands import add_commands as add_downstream_commands
from engine.downstream.commands import run_export, run_finetune, run_predict
from engine.errors import HatcheryInputError
from engine.labeling.command import add_suggest_command, run_suggest
from engine.planning.command import add_planning_commands, run_plan, run_run
from engine.schemas.backbones import BACKBONES
from engine.schemas.errors import describe
from engine.schemas.eval import EmbedConfig, KnnEvalConfig
from engine.schemas.pretrain import METHODS, PretrainConfig

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 143


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    print(f"hatchery: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic error as 'config field a.b: message'."""
    return f"config field {describe(error)}"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="hatchery", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineArgumentParser
    )

    pretrain = commands.add_parser("pretrain", help="self-supervised pretraining on images")
    pretrain.add_argument("--data", help="folder of unlabeled images (searched recursively)")
    pretrain.add_argument("--out", required=True, help="run folder: checkpoint, config, metrics")
    pretrain.add_argument("--config", help="YAML file with a PretrainConfig; flags override it")
    pretrain.add_argument("--method", choices=METHODS)
    pretrain.add_argument("--backbone", choices=BACKBONES)
    pretrain.add_argument("--stem", choices=("patchify", "conv"))
    pretrain.add_argument("--memory", choices=("fifo", "priority"))
    pretrain.add_argument("--memory-size", type=int)
    pretrain.add_argument("--relic-alpha", type=float)
    pretrain.add_argument("--dense-weight", type=float,
                          help="moby/hatchery: weight of the local objective, pixel-level "
                               "contrast between overlapping views (0: off)")
    pretrain.add_argument("--global-weight", type=float,
                          help="moby/hatchery: weight of the global objective (InfoNCE against "
                               "the memories, plus ReLIC); 0 trains the local terms alone")
    pretrain.add_argument("--defect-weight", type=float,
                          help="moby/hatchery: weight of the synthetic-defect subtask "
                               "(blemishes painted into views, segmented; 0: off)")
    pretrain.add_argument("--local-crops", type=int, metavar="N",
                          help="moby/hatchery: N small extra views per image cut at about "
                               "native resolution (multi-crop; 0: off)")
    pretrain.add_argument("--groups", metavar="FILE",
                          help="hatchery analyze's groups file: which images are shots of one "
                               "physical part (paths relative to --data)")
    pretrain.add_argument("--other-shot-prob", type=float, metavar="P",
                          help="cut view 2 from another shot of the same part (--groups) "
                               "with probability P (0: off)")
    pretrain.add_argument("--view-overlap", type=float, metavar="F",
                          help="place view 2's crop where it shares at least F of the shorter "
                               "side with view 1's along each axis (0-1; default: anywhere)")
    pretrain.add_argument("--crop-pixels", type=float, nargs=2, metavar=("MIN", "MAX"),
                          help="crop sides in native pixels instead of fractions of the image")
    pretrain.add_argument("--directions", choices=("both", "one"),
                          help="moby/hatchery: predict each view from the other (both), or "
                               "one direction per image (half the passes per step)")
    length = pretrain.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float)
    length.add_argument("--steps", type=int)
    pretrain.add_argument("--batch-size", type=int)
    pretrain.add_argument("--image-size", type=int)
    pretrain.add_argument("--device", choices=("auto", "cpu", "cuda"))
    pretrain.add_argument("--seed", type=int)
    pretrain.add_argument("--eval-train", help="labeled folder (one sub-folder per class)")
    pretrain.add_argument("--eval-test", help="labeled folder for the kNN report")
    pretrain.add_argument("--eval-every", type=int)
    pretrain.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")
    pretrain.add_argument("--quiet", action="store_true", help="no progress bar")

    embed = commands.add_parser("embed", help="write L2-normalized backbone features (.npz)")
    embed.add_argument("--checkpoint", required=True)
    embed.add_argument("--data", required=True)
    embed.add_argument("--out", required=True)
    embed.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    embed.add_argument("--batch-size", type=int, help="tiles per forward pass (64)")
    embed.add_argument("--max-tiles", type=int, help="tiles per large image at most (16)")

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint")
    evaluations = evaluate.add_subparsers(dest="evaluation", required=True,
                                          parser_class=OneLineArgumentParser)
    knn = evaluations.add_parser("knn", help="weighted kNN on labeled train/test folders")
    knn.add_argument("--checkpoint", required=True)
    knn.add_argument("--train", required=True)
    knn.add_argument("--test", required=True)
    knn.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    knn.add_argument("--k", type=int, nargs="+", help="neighbour counts (20 200)")
    knn.add_argument("--temperature", type=float, help="vote temperature (0.07)")
    knn.add_argument("--batch-size", type=int, help="tiles per forward pass (64)")
    knn.add_argument("--max-tiles", type=int, help="tiles per large image at most (16)")
    knn.add_argument("--no-baselines", dest="baselines", action="store_false",
                     help="skip the random-init and raw-pixel kNN beside the backbone's")

    add_downstream_commands(commands, OneLineArgumentParser)
    add_analyze_command(commands)
    add_planning_commands(commands)
    add_suggest_command(commands)
    return parser


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def pretrain_config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The YAML file (or, on --resume without one, the run's config.yaml) plus the flags."""
    source = args.config
    if source is None and args.resume and (Path(args.out) / "config.yaml").exists():
        source = str(Path(args.out) / "config.yaml")
    tree: dict[str, Any] = {}
    if source is not None:
        try:
            tree = yaml.safe_load(Path(source).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            fail(f"cannot read config {source}: {error}")
        if not isinstance(tree, dict):
            fail(f"config {source} must be a YAML mapping")
    overrides = {
        "data.path": args.data, "method": args.method, "backbone.name": args.backbone,
        "backbone.stem": args.stem, "memory.kind": args.memory, "memory.size": args.memory_size,
        "loss.relic_alpha": args.relic_alpha, "loss.dense_weight": args.dense_weight,
        "loss.global_weight": args.global_weight,
        "loss.defect_weight": args.defect_weight, "augment.local_crops.count": args.local_crops,
        "data.groups": args.groups, "augment.other_shot_prob": args.other_shot_prob,
        "augment.view_overlap": args.view_overlap,
        "augment.crop.unit": None if args.crop_pixels is None else "pixels",
        "augment.crop.scale": args.crop_pixels, "batch_size": args.batch_size,
        "loss.symmetric": None if args.directions is None else args.directions == "both",
        "data.image_size": args.image_size, "runtime.device": args.device,
        "runtime.seed": args.seed, "eval.train": args.eval_train, "eval.test": args.eval_test,
        "eval.every": args.eval_every, "epochs": args.epochs, "steps": args.steps,
    }
    for dotted, value in overrides.items():
        if value is not None:
            _set(tree, dotted, value)
    if args.epochs is not None:
        tree.pop("steps", None)
    if args.steps is not None:
        tree.pop("epochs", None)
    if "path" not in tree.get("data", {}):
        fail("--data is required (or a config whose data.path names the image folder)")
    try:
        return PretrainConfig.model_validate(tree)
    except ValidationError as error:
        fail(describe_validation_error(error))


def run_pretrain(args: argparse.Namespace) -> int:
    from engine.train.pretrain import PretrainRun
    from engine.train.progress import ProgressBar

    config = pretrain_config_from_args(args)
    callbacks = [] if args.quiet else [ProgressBar()]
    run = PretrainRun(config, args.out, callbacks=callbacks, resume=args.resume)
    if run.images.skipped:
        names = ", ".join(path for path, _ in run.images.skipped[:5])
        more = len(run.images.skipped) - 5
        print(f"hatchery: skipped {len(run.images.skipped)} unreadable files: {names}"
              + (f" and {more} more (see data.json)" if more > 0 else ""), file=sys.stderr)
    result = run.run()
    print(json.dumps({"status": result.status, "step": result.step,
                      "total_steps": result.total_steps, "out": str(result.out_dir)}))
    return EXIT_INTERRUPTED if result.status == "interrupted" else 0


def run_embed(args: argparse.Namespace) -> int:
    from engine.eval.embed import embed_folder

    config = EmbedConfig(checkpoint=args.checkpoint, data=args.data, device=args.device,
                         **_given(args, "batch_size", "max_tiles"))
    print(json.dumps(embed_folder(config, args.out)))
    return 0


def run_knn(args: argparse.Namespace) -> int:
    from engine.eval.embed import evaluate_knn

    config = KnnEvalConfig(checkpoint=args.checkpoint, train=args.train, test=args.test,
                           device=args.device, baselines=args.baselines,
                           **_given(args, "k", "temperature", "batch_size", "max_tiles"))
    print(json.dumps(evaluate_knn(config), indent=2))
    return 0


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` that were given on the command line."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"pretrain": run_pretrain, "embed": run_embed, "eval": run_knn,
                "finetune": run_finetune, "predict": run_predict, "export": run_export,
                "analyze": run_analyze, "plan": run_plan, "run": run_run,
                "suggest": run_suggest}
    try:
        return handlers[args.command](args)
    except HatcheryInputError as error:
        fail(str(error))
    except ValidationError as error:
        fail(describe_validation_error(error))


if __name__ == "__main__":
    raise SystemExit(main())
