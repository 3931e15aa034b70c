"""Detection and instance segmentation on tiny generated parts: mAP against hand-computed
values, the feature pyramid of every backbone family, the views, the EMA teacher, a few
training steps (supervised and semi-supervised) that write a model directory which loads
back and predicts, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pydantic import ValidationError
from torch import nn

from engine.backbones.resnet import ResNetBackbone
from engine.backbones.swin import SwinBackbone
from engine.backbones.vit import VIT_ARCHITECTURES, VisionTransformer
from engine.cli import main
from engine.data.annotations import AnnotationError, read_annotations
from engine.downstream.detect import (
    TEACHER_FORGETS,
    Teacher,
    input_size,
    learning_rate,
    teacher_decay,
    train_detector,
)
from engine.downstream.detection_metrics import detection_metrics
from engine.downstream.detection_model import (
    PyramidBackbone,
    batchnorm_to_groupnorm,
    detector_of_card,
    load_detector,
    predict_objects,
)
from engine.downstream.detection_views import hflip, strong_view
from engine.downstream.model_dir import load_card
from engine.schemas.detect import DetectConfig
from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun

SIZE = 48
CLASSES = ("spot", "bar")


def part(seed: int) -> tuple[np.ndarray, list[tuple[int, list[float]]]]:
    """A noisy gray part with a bright square spot and, every other part, a dark bar:
    the image and its objects (class index, [x0, y0, x1, y1])."""
    rng = np.random.default_rng(seed)
    image = (110 + rng.normal(0, 8, (SIZE, SIZE))).clip(0, 255)
    x, y = rng.integers(2, SIZE - 16, 2)
    image[y:y + 12, x:x + 12] = 230
    objects = [(0, [float(x), float(y), float(x + 12), float(y + 12)])]
    if seed % 2:
        image[40:44, 4:30] = 20
        objects.append((1, [4.0, 40.0, 30.0, 44.0]))
    return image.astype(np.uint8), objects


def voc_set(folder: Path, seeds: range) -> Path:
    folder.mkdir(parents=True)
    for seed in seeds:
        image, objects = part(seed)
        Image.fromarray(image).save(folder / f"p{seed}.png")
        body = "".join(f"<object><name>{CLASSES[label]}</name><bndbox><xmin>{box[0]:g}</xmin>"
                       f"<ymin>{box[1]:g}</ymin><xmax>{box[2]:g}</xmax><ymax>{box[3]:g}</ymax>"
                       "</bndbox></object>" for label, box in objects)
        (folder / f"p{seed}.xml").write_text(
            f"<annotation><filename>p{seed}.png</filename>{body}</annotation>")
    return folder


def yolo_set(root: Path, seeds: range) -> Path:
    """images/ and labels/ (each object's outline as a polygon), names in data.yaml."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for seed in seeds:
        image, objects = part(seed)
        Image.fromarray(image).save(root / "images" / f"p{seed}.png")
        lines = []
        for label, (x0, y0, x1, y1) in objects:
            corners = [x0, y0, x1, y0, x1, y1, x0, y1]
            lines.append(" ".join([str(label), *(f"{v / SIZE:.4f}" for v in corners)]))
        (root / "labels" / f"p{seed}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"names: {list(CLASSES)}\n")
    return root / "images"


def unlabeled_folder(folder: Path, seeds: range) -> Path:
    folder.mkdir(parents=True)
    for seed in seeds:
        Image.fromarray(part(seed)[0]).save(folder / f"u{seed}.png")
    return folder


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("detect")
    return {"voc_train": voc_set(root / "voc_train", range(6)),
            "voc_val": voc_set(root / "voc_val", range(100, 103)),
            "yolo_train": yolo_set(root / "yolo_train", range(6)),
            "yolo_val": yolo_set(root / "yolo_val", range(100, 102)),
            "unlabeled": unlabeled_folder(root / "unlabeled", range(200, 206))}


def tiny(**fields) -> DetectConfig:
    defaults = {"backbone": {"architecture": "resnet18"}, "image_size": SIZE, "steps": 2,
                "batch_size": 2, "unlabeled_batch_size": 2, "rois_per_image": 32,
                "warmup_steps": 0, "max_detections": 10, "device": "cpu"}
    return DetectConfig.model_validate({**defaults, **fields})


# --------------------------------------------------------------------------------- metrics
def rectangle_masks(boxes: list[list[float]]) -> torch.Tensor:
    masks = torch.zeros(len(boxes), 20, 20, dtype=torch.bool)
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        masks[index, int(y0):int(y1), int(x0):int(x1)] = True
    return masks


def test_map_of_hand_made_predictions_matches_the_hand_computed_value():
    """Class 0: two objects; found best-first as hit, miss, hit: precision 1, 1/2, 2/3 at
    recall 1/2, 1/2, 1. COCO's 101-point interpolation: recall 0 .. 0.50 (51 points) at
    precision 1, 0.51 .. 1.00 (50 points) at 2/3: AP = (51 + 50·2/3) / 101 at every IoU.
    Class 1: one object found at IoU 100/160 = 0.625: a hit at IoU 0.50, 0.55, 0.60 of the
    ten thresholds: AP 0.3, AP50 1."""
    class_0 = (51 + 50 * 2 / 3) / 101
    target_boxes = [[0, 0, 4, 4], [10, 10, 14, 14], [0, 4, 10, 14]]
    predicted_boxes = [[0, 0, 4, 4], [5, 0, 9, 4], [10, 10, 14, 14], [0, 4, 10, 20]]
    targets = [{"boxes": torch.tensor(target_boxes, dtype=torch.float),
                "labels": torch.tensor([0, 0, 1]), "masks": rectangle_masks(target_boxes)}]
    predictions = [{"boxes": torch.tensor(predicted_boxes, dtype=torch.float),
                    "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]),
                    "labels": torch.tensor([0, 0, 0, 1]),
                    "masks": rectangle_masks(predicted_boxes)}]
    report = detection_metrics(predictions, targets, ["scratch", "pit"], masks=True)
    assert report["images"] == 1 and report["objects"] == 3
    for kind in ("box", "mask"):  # rectangles: the masks overlap as the boxes do
        scores = report[kind]
        assert scores["per_class"]["scratch"]["ap"] == pytest.approx(class_0, abs=1e-5)
        assert scores["per_class"]["scratch"]["ap50"] == pytest.approx(class_0, abs=1e-5)
        assert scores["per_class"]["pit"] == pytest.approx({"ap": 0.3, "ap50": 1.0})
        assert scores["map"] == pytest.approx((class_0 + 0.3) / 2, abs=1e-5)
        assert scores["map_50"] == pytest.approx((class_0 + 1) / 2, abs=1e-5)


def test_a_class_without_ground_truth_has_no_ap():
    report = detection_metrics(
        [{"boxes": torch.tensor([[0.0, 0, 4, 4], [5, 5, 9, 9]]),
          "scores": torch.tensor([0.9, 0.5]), "labels": torch.tensor([0, 1])}],
        [{"boxes": torch.tensor([[0.0, 0, 4, 4]]), "labels": torch.tensor([0])}],
        ["scratch", "pit"])
    assert report["box"]["map"] == 1.0 and list(report["box"]["per_class"]) == ["scratch"]
    assert "mask" not in report


# ---------------------------------------------------------------------------------- pieces
def test_flip_moves_boxes_and_masks_and_the_strong_view_keeps_the_geometry():
    image = torch.zeros(1, 4, 10)
    image[:, :, :2] = 1.0
    masks = torch.zeros(1, 4, 10, dtype=torch.uint8)
    masks[0, :, :2] = 1
    flipped, target = hflip(image, {"boxes": torch.tensor([[0.0, 0, 2, 4]]),
                                    "labels": torch.tensor([1]), "masks": masks})
    assert target["boxes"].tolist() == [[8, 0, 10, 4]]
    assert flipped[0, 0, 8:].tolist() == [1, 1] and target["masks"][0, 0, 8:].tolist() == [1, 1]
    picture = torch.rand(1, 32, 40)
    views = [strong_view(picture, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert views[0].shape == picture.shape and torch.equal(views[0], views[1])
    assert float(views[0].min()) >= 0 and float(views[0].max()) <= 1
    assert not torch.equal(views[0], picture)


def test_the_pyramid_of_every_backbone_family():
    standard = PyramidBackbone(ResNetBackbone("resnet18", 1), nn.BatchNorm2d)
    assert standard.strides == [4, 8, 16, 32, 64] and standard.level_names == list("0123")
    small = PyramidBackbone(ResNetBackbone("resnet18", 1, small_input=True), nn.BatchNorm2d)
    assert small.strides == [4, 8, 16]  # the stride-1 and -2 stages are left out
    swin = PyramidBackbone(SwinBackbone(1, patch_size=4), nn.BatchNorm2d)
    assert swin.strides == [4, 8, 16, 32, 64]
    vit = PyramidBackbone(VisionTransformer(VIT_ARCHITECTURES["vit_small"], 1, patch_size=8),
                          nn.BatchNorm2d).eval()
    assert vit.strides == [4, 8, 16, 32]  # p/2, p, 2p and the pooled level; p/4 < 4
    levels = vit(torch.rand(1, 1, 64, 64))
    assert list(levels) == ["0", "1", "2", "pool"]
    assert [tuple(v.shape[-2:]) for v in levels.values()] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert all(v.shape[1] == 256 for v in levels.values())


def test_group_norm_keeps_the_learned_scale_and_shift():
    network = nn.Sequential(nn.Conv2d(1, 64, 3), nn.BatchNorm2d(64), nn.ReLU())
    with torch.no_grad():
        network[1].weight.fill_(2.0)
    converted = batchnorm_to_groupnorm(network)
    assert isinstance(converted[1], nn.GroupNorm) and converted[1].num_groups == 32
    assert torch.equal(converted[1].weight, torch.full((64,), 2.0))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in converted.modules())


def test_the_teacher_follows_the_student_with_its_statistics():
    student = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    teacher = Teacher(student)
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    with torch.no_grad():
        student[0].weight.add_(2.0)
        student[1].running_mean.fill_(4.0)
    before = teacher.model[0].weight.clone()
    teacher.update(student, decay=0.75)
    assert torch.allclose(teacher.model[0].weight, before + 0.5)
    assert torch.allclose(teacher.model[1].running_mean, torch.ones(2))


def test_the_teacher_forgets_its_burn_in_copy_on_a_short_run():
    config = tiny(train="t", val="v", ema=0.999)
    short = teacher_decay(config, 200)
    assert short < 0.999 and short ** 200 < math.exp(-TEACHER_FORGETS) < 0.999 ** 200
    assert teacher_decay(config, 1_000_000) == 0.999  # a long run keeps the asked decay
    assert teacher_decay(config, 1) == 0.0  # one update: the student itself


def test_schedule_and_input_size(parts):
    config = tiny(train="t", val="v", steps=100, warmup_steps=10, learning_rate=0.1)
    assert learning_rate(config, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 10) == pytest.approx(0.1)
    assert learning_rate(config, 99) < 0.001
    found = read_annotations(parts["voc_train"])
    assert input_size(found, None) == (SIZE, SIZE) and input_size(found, 64) == (64, 64)


def test_the_config_refuses_what_cannot_work():
    with pytest.raises(ValidationError, match="learned backbone"):
        tiny(train="t", val="v", backbone={"architecture": "raw_pixels"})
    with pytest.raises(ValidationError):
        tiny(train="t", val="v", steps=True)
    with pytest.raises(ValidationError):
        tiny(train="t", val="v", confidence=1.5)


def test_segment_needs_outlines(parts, tmp_path):
    config = tiny(task="segment", train=str(parts["voc_train"]), val=str(parts["voc_val"]))
    with pytest.raises(AnnotationError,
                       match=r"voc_train: segmentation learns outlines, but .*p0\.png has a box"):
        train_detector(config, tmp_path / "model")


# -------------------------------------------------------------------------------- training
def test_supervised_detection_writes_a_model_that_loads_and_predicts(parts, tmp_path):
    config = tiny(train=str(parts["voc_train"]), val=str(parts["voc_val"]))
    seen: list[tuple[str, int, int]] = []
    report = train_detector(config, tmp_path / "model", lambda *p: seen.append(p))
    assert report["method"] == "supervised" and report["classes"] == ["bar", "spot"]
    assert ("train", 2, 2) in seen and seen[-1] == ("val", 3, 3)
    assert all(np.isfinite(v) for v in report["final_losses"].values())
    box = report["metrics"]["box"]
    assert set(box) == {"map", "map_50", "map_75", "mar_100", "per_class"}
    assert 0 <= box["map"] <= 1 and report["metrics"]["objects"] == 4

    card = load_card(tmp_path / "model", task="detect")
    assert card.class_names == ["bar", "spot"] and card.preprocessing.image_size == SIZE
    assert card.backbone["name"] == "resnet18" and card.metrics == report["metrics"]
    model, card = load_detector(tmp_path / "model", torch.device("cpu"))
    # the inference settings it was measured with come back with it
    assert model.rpn.post_nms_top_n() == card.settings["proposals"] == 300
    older = load_card(tmp_path / "model")
    del older.settings["proposals"]  # a card written before the setting: torchvision's
    assert detector_of_card(older).eval().rpn.post_nms_top_n() == 1000
    card.threshold = 0.0  # an untrained model's scores are low: show every box
    image = torch.from_numpy(part(7)[0])[None]
    found = predict_objects(model, card, image, torch.device("cpu"))
    assert set(found) == {"boxes"} and found["boxes"]
    first = found["boxes"][0]
    assert first["class"] in CLASSES and 0 <= first["score"] <= 1 and len(first["box"]) == 4
    assert all(0 <= v <= SIZE for v in first["box"])


def test_semi_supervised_segmentation_learns_from_pseudo_masks(parts, tmp_path):
    config = tiny(task="segment", train=str(parts["yolo_train"]), val=str(parts["yolo_val"]),
                  unlabeled=str(parts["unlabeled"]), steps=2, burn_in=0.5, confidence=0.0,
                  unlabeled_batch_size=1)
    report = train_detector(config, tmp_path / "model")
    assert report["method"] == "semi-supervised"
    losses = report["final_losses"]
    assert losses["pseudo_boxes"] > 0 and np.isfinite(losses["unlabeled"])
    assert {"box", "mask"} <= set(report["metrics"])
    card = load_card(tmp_path / "model", task="segment")
    assert card.settings["unlabeled_images"] == 6 and card.settings["method"] == "semi-supervised"

    model, card = load_detector(tmp_path / "model", torch.device("cpu"))
    card.threshold = 0.0
    found = predict_objects(model, card, torch.from_numpy(part(9)[0])[None],
                            torch.device("cpu"))
    assert len(found["masks"]) == len(found["boxes"]) > 0
    rle = found["masks"][0]
    assert rle["size"] == [SIZE, SIZE] and isinstance(rle["counts"], str)
    decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert decoded.shape == (SIZE, SIZE)


def test_a_pretrained_backbone_detects_with_its_own_image_format(parts, tmp_path):
    """One pretraining step on the parts, then one detection step on its backbone."""
    pretrain = PretrainConfig.model_validate({
        "method": "mocov2", "data": {"path": str(parts["unlabeled"].parent), "image_size": 32},
        "backbone": {"name": "resnet18", "small_input": False}, "heads": {"hidden_dim": 64},
        "batch_size": 8, "steps": 1,
        "runtime": {"device": "cpu", "precision": "fp32", "checkpoint_every": 1}})
    PretrainRun(pretrain, tmp_path / "pretrain").run()
    config = tiny(backbone={"checkpoint": str(tmp_path / "pretrain" / "checkpoint.pt")},
                  train=str(parts["voc_train"]), val=str(parts["voc_val"]), steps=1)
    report = train_detector(config, tmp_path / "model")
    card = load_card(tmp_path / "model", task="detect")
    assert card.settings["pretrained"] and card.backbone["name"] == "resnet18"
    assert card.preprocessing.channels == 1 and report["metrics"]["images"] == 3
    model, _ = load_detector(tmp_path / "model", torch.device("cpu"))
    assert model.backbone.strides == [4, 8, 16, 32, 64]


def test_cli_finetune_detect_and_predict(parts, tmp_path, capsys):
    out = tmp_path / "model"
    main(["finetune", "detect", "--random-init", "resnet18", "--train", str(parts["voc_train"]),
          "--val", str(parts["voc_val"]), "--out", str(out), "--steps", "1",
          "--batch-size", "2", "--image-size", str(SIZE), "--device", "cpu"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["task"] == "detect" and (out / "model.yaml").is_file()
    main(["predict", "--model", str(out), str(parts["voc_val"]), "--device", "cpu"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [Path(line["image"]).name for line in lines] == ["p100.png", "p101.png", "p102.png"]
    assert all(isinstance(line["boxes"], list) for line in lines)
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "segment", "--random-init", "resnet18", "--train",
              str(parts["voc_train"]), "--val", str(parts["voc_val"]), "--out",
              str(tmp_path / "segment")])
    assert exit_info.value.code == 2
    assert "segmentation learns outlines" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_detector_exports_find_what_the_eager_model_finds(parts, tmp_path, fmt):
    """Detect and segment models traced with their preprocessing: the same boxes, classes,
    scores (and masks) as the eager model, on the traced image and on one of another size."""
    from engine.downstream.export import DetectorGraph, export_model

    train_detector(tiny(train=str(parts["voc_train"]), val=str(parts["voc_val"]), steps=1),
                   tmp_path / "detect")
    train_detector(tiny(task="segment", train=str(parts["yolo_train"]),
                        val=str(parts["yolo_val"]), steps=1), tmp_path / "segment")
    sample = tmp_path / "sample.png"
    Image.fromarray(np.tile(part(5)[0], (1, 2))).save(sample)  # 48 x 96
    other = torch.from_numpy(part(6)[0])[None, None]  # 48 x 48
    for task, outputs in (("detect", ["boxes", "classes", "scores"]),
                          ("segment", ["boxes", "classes", "scores", "masks"])):
        report = export_model(tmp_path / task, fmt, sample=sample)
        assert report["outputs"] == outputs and Path(report["out"]).is_file()
        assert report["sample"] == str(sample) and report["objects_compared"] > 0
        assert report["max_abs_difference"] < 1e-3, report
        if fmt == "torchscript":  # no sample given: the validation image the model kept
            kept = export_model(tmp_path / task, fmt, tmp_path / f"{task}_kept.pt")
            assert kept["sample"] == "the validation image kept in the model directory"
            assert kept["objects_compared"] > 0 and kept["max_abs_difference"] < 1e-3, kept

        model, _ = load_detector(tmp_path / task, torch.device("cpu"))
        with torch.no_grad():
            eager = DetectorGraph(model, masks=task == "segment")(other)
        if fmt == "torchscript":
            exported = torch.jit.load(report["out"])(other)
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(report["out"],
                                                   providers=["CPUExecutionProvider"])
            exported = session.run(None, {"image": other.numpy()})
        assert len(eager[0]) > 0
        for mine, theirs in zip(eager, exported, strict=True):
            torch.testing.assert_close(torch.as_tensor(theirs).double(), mine.double(),
                                       atol=1e-3, rtol=0)
