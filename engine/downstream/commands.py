"""The downstream commands of ``hatchery``: ``finetune anomaly``, ``finetune classify``,
``finetune detect``, ``finetune segment``, ``predict``, ``export``. Each reads its flags into
the job's schema (engine/schemas/finetune.py, engine/schemas/detect.py), so a flag the schema
refuses is one line and exit 2, like every other bad input."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.schemas.finetune import AnomalySettings

DEVICES = ("auto", "cpu", "cuda")


def add_commands(commands: argparse._SubParsersAction, parser_class: type) -> None:
    anomaly_defaults = AnomalySettings()
    finetune = commands.add_parser("finetune", help="train a defect model on a backbone")
    tasks = finetune.add_subparsers(dest="task", required=True, parser_class=parser_class)

    anomaly = tasks.add_parser("anomaly", help="PatchCore from good parts only")
    _backbone_flags(anomaly)
    anomaly.add_argument("--good", required=True, help="folder of good parts' images")
    anomaly.add_argument("--val-good", help="folder of good parts to measure on")
    anomaly.add_argument("--val-defect", help="folder of defective parts to measure on")
    anomaly.add_argument("--masks", help="defect masks of --val-defect (PNG or YOLO .txt)")
    anomaly.add_argument("--input-scale", type=float,
                         help="network pixels per image pixel (default: the backbone's)")
    anomaly.add_argument("--tile", type=int,
                         help=f"tile side in network pixels ({anomaly_defaults.tile})")
    anomaly.add_argument("--bank-size", type=int,
                         help=f"memory bank patches at most ({anomaly_defaults.bank_size})")
    anomaly.add_argument("--patches-per-image", type=int,
                         help="good patches drawn per image before the coreset "
                              f"({anomaly_defaults.patches_per_image})")
    anomaly.add_argument("--fit-normalization", action=argparse.BooleanOptionalAction,
                         help="re-estimate the backbone's BatchNorm statistics on the good "
                              "parts first (default: a random-init backbone's only)")
    anomaly.add_argument("--out", required=True, help="model directory to write")

    classify = tasks.add_parser("classify", help="few-label classification")
    _backbone_flags(classify)
    classify.add_argument("--labeled", required=True, help="one sub-folder of images a class")
    classify.add_argument("--unlabeled", help="folder of unlabeled images (fixmatch)")
    classify.add_argument("--val", help="labeled folder to measure on (same classes)")
    classify.add_argument("--method", choices=("linear", "supervised", "fixmatch"))
    classify.add_argument("--steps", type=int)
    classify.add_argument("--batch-size", type=int)
    classify.add_argument("--image-size", type=int)
    classify.add_argument("--out", required=True, help="model directory to write")

    for task, what in (("detect", "object detection (Faster R-CNN)"),
                       ("segment", "instance segmentation (Mask R-CNN)")):
        detect = tasks.add_parser(task, help=f"{what}, semi-supervised with --unlabeled")
        _backbone_flags(detect)
        detect.add_argument("--train", required=True,
                            help="annotations: COCO .json, Pascal VOC folder or YOLO folder")
        detect.add_argument("--val", required=True, help="annotations to measure on")
        detect.add_argument("--unlabeled", help="folder of unlabeled images (Unbiased Teacher)")
        detect.add_argument("--format", dest="annotation_format",
                            choices=("auto", "coco", "voc", "yolo"))
        detect.add_argument("--steps", type=int)
        detect.add_argument("--batch-size", type=int)
        detect.add_argument("--image-size", type=int, help="shorter side in network pixels")
        detect.add_argument("--out", required=True, help="model directory to write")

    predict = commands.add_parser("predict", help="run a model directory on images")
    predict.add_argument("--model", required=True, help="a model directory")
    predict.add_argument("images", nargs="+", help="images or folders of images")
    predict.add_argument("--heatmaps", help="folder for anomaly heat maps (PNG)")
    predict.add_argument("--device", choices=DEVICES, default="auto")

    export = commands.add_parser("export", help="a model directory as ONNX or TorchScript")
    export.add_argument("--model", required=True, help="a model directory")
    export.add_argument("--format", choices=("onnx", "torchscript"), required=True)
    export.add_argument("--out", help="file to write (default: in the model directory)")
    export.add_argument("--sample", help="an image to check the export on (default: random)")


def _backbone_flags(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a pretrain checkpoint")
    source.add_argument("--random-init", metavar="ARCHITECTURE",
                        help="random weights of this backbone (a baseline)")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--baselines", action="store_true",
                        help="measure the model again on a random-init backbone and on raw "
                             "pixels (a detector: on a random-init backbone only, as many "
                             "steps again); a FixMatch or linear classifier also beside the "
                             "labels alone (--steps steps from random init)")


def _config(args: argparse.Namespace, fields: tuple[str, ...]) -> dict[str, Any]:
    config: dict[str, Any] = {"backbone": {"checkpoint": args.checkpoint}
                              if args.checkpoint else {"architecture": args.random_init},
                              "device": args.device}
    config.update({name: getattr(args, name) for name in fields
                   if getattr(args, name) is not None})
    return config


def _progress(stage: str, done: int, total: int) -> None:
    sys.stderr.write(f"\r{stage}: {done}/{total}   ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_finetune(args: argparse.Namespace) -> int:
    from engine.downstream.finetune import finetune
    from engine.schemas.detect import DetectConfig
    from engine.schemas.finetune import AnomalyConfig, ClassifyConfig

    if args.task == "anomaly":
        config: AnomalyConfig | ClassifyConfig | DetectConfig = AnomalyConfig.model_validate(
            _config(args, ("good", "val_good", "val_defect", "masks", "input_scale", "tile",
                           "bank_size", "patches_per_image", "fit_normalization",
                           "seed")))
    elif args.task in ("detect", "segment"):
        config = DetectConfig.model_validate({**_config(args, (
            "train", "val", "unlabeled", "annotation_format", "steps", "batch_size",
            "image_size", "seed")), "task": args.task})
    else:
        config = ClassifyConfig.model_validate(_config(args, (
            "labeled", "unlabeled", "val", "method", "steps", "batch_size", "image_size",
            "seed")))
    print(json.dumps(finetune(config, args.out, _progress, baselines=args.baselines)))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from engine.downstream.export import export_model

    print(json.dumps(export_model(args.model, args.format, args.out, args.sample)))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from engine.downstream.predict import predict

    for result in predict(args.model, args.images, args.heatmaps, args.device):
        print(json.dumps(result), flush=True)
    return 0
