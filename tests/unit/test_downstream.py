"""Downstream models on tiny data: PatchCore finds a planted defect, classifiers train and
score, model directories load back (or are refused clearly), predict prints JSON lines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from engine.backbones.pixels import RawPixels
from engine.cli import main
from engine.data.masks import MaskError, read_mask
from engine.downstream.anomaly import load_anomaly_model, train_anomaly
from engine.downstream.classify import train_classifier
from engine.downstream.export import export_model
from engine.downstream.model_dir import ModelDirectoryError, load_card, load_weights
from engine.downstream.patchcore import (
    PatchFeatures,
    _tile_starts,
    dense_features,
    greedy_coreset,
)
from engine.downstream.predict import predict
from engine.schemas.finetune import AnomalyConfig, BackboneSource, ClassifyConfig


def texture(seed: int, size: int = 64) -> np.ndarray:
    """A gray surface with fine noise, like a machined part."""
    rng = np.random.default_rng(seed)
    return (120 + rng.normal(0, 12, (size, size))).clip(0, 255).astype(np.uint8)


def with_spot(image: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The image with a dark 6x6 pit at a random place, and its mask."""
    rng = np.random.default_rng(seed)
    y, x = rng.integers(8, image.shape[0] - 14, 2)
    out, mask = image.copy(), np.zeros(image.shape, np.uint8)
    out[y:y + 6, x:x + 6] = 20
    mask[y:y + 6, x:x + 6] = 255
    return out, mask


def write_parts(root: Path, good: int = 12, val: int = 4) -> Path:
    """``root`` with good/ (``good``), val_good/ and val_defect/ (``val`` each) and masks/
    (PNG) of generated parts."""
    for name in ("good", "val_good", "val_defect", "masks"):
        (root / name).mkdir()
    for index in range(good):
        Image.fromarray(texture(index)).save(root / "good" / f"g{index}.png")
    for index in range(val):
        Image.fromarray(texture(100 + index)).save(root / "val_good" / f"v{index}.png")
        spotted, mask = with_spot(texture(200 + index), index)
        Image.fromarray(spotted).save(root / "val_defect" / f"d{index}.png")
        Image.fromarray(mask).save(root / "masks" / f"d{index}.png")
    return root


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Path:
    """good/ (12), val_good/ (4), val_defect/ (4) with masks/ (PNG) of generated parts."""
    return write_parts(tmp_path_factory.mktemp("parts"))


def test_patchcore_finds_planted_pits_and_its_directory_loads_back(parts, tmp_path):
    config = AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(parts / "good"),
                           val_good=str(parts / "val_good"),
                           val_defect=str(parts / "val_defect"), masks=str(parts / "masks"),
                           input_scale=2.0, bank_size=512, device="cpu")
    report = train_anomaly(config, tmp_path / "model")
    metrics = report["metrics"]
    assert metrics["image_auroc"] == 1.0  # every pit outscores every good part
    assert metrics["pixel_auroc"] > 0.9 and 0 < metrics["aupro"] <= 1
    assert report["heatmaps"] == 8 and (tmp_path / "model" / "heatmaps" / "d0.png").is_file()
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    assert evaluation["confusion_matrix"] == [[4, 0], [0, 4]]  # F1-optimal: all right
    assert evaluation["curves"][0]["auc"] == 1.0 and evaluation["images_total"] == 8
    assert all((tmp_path / "model" / image["picture"]).is_file()
               for image in evaluation["images"])
    card = load_card(tmp_path / "model", task="anomaly")
    assert card.threshold == report["threshold"] and card.preprocessing.input_scale == 2.0
    # a random-init backbone's BatchNorm statistics are fitted to the good parts, and kept
    assert card.settings["normalization_fitted_layers"] == 20
    model, _ = load_anomaly_model(tmp_path / "model", torch.device("cpu"))
    assert model.extractor.backbone.network.bn1.running_mean.abs().sum() > 0
    results = list(predict(tmp_path / "model", [str(parts / "val_defect"),
                                                str(parts / "val_good" / "v0.png")],
                           heatmaps=tmp_path / "maps", device="cpu"))
    assert [r["verdict"] for r in results] == ["defect"] * 4 + ["good"]
    assert Path(results[0]["heatmap"]).is_file() and model.bank.shape[0] == 512


def test_without_validation_the_threshold_comes_from_held_out_good_parts(parts, tmp_path):
    config = AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(parts / "good"),
                           input_scale=1.0, bank_size=256, device="cpu",
                           fit_normalization=False)
    report = train_anomaly(config, tmp_path / "model")
    assert report["metrics"]["held_out_good"] == 1 and report["threshold"] > 0
    # asked not to, the statistics stay as initialized (mean 0)
    assert load_card(tmp_path / "model", task="anomaly").settings[
        "normalization_fitted_layers"] == 0
    weights = load_weights(tmp_path / "model")
    assert not weights["backbone"]["network.bn1.running_mean"].any()


def test_tiled_features_line_up_with_the_whole_images():
    """Any image size, any backbone: the grid is ceil(size / stride), and raw pixels (no
    receptive field beyond the margin) are the same tiled or whole."""
    extractor = PatchFeatures(RawPixels(1))
    x = torch.rand(1, 1, 150, 333)
    whole, stride = dense_features(extractor, x, tile=4096)
    tiled, _ = dense_features(extractor, x, tile=128, margin=32)
    assert whole.shape[-2:] == (math.ceil(150 / stride), math.ceil(333 / stride))
    torch.testing.assert_close(tiled, whole)


def test_tiles_cover_an_image_once_and_the_coreset_spreads_out():
    spans = _tile_starts(1000, 400, 50)
    kept = [range(keep_start, keep_end) for _, _, keep_start, keep_end in spans]
    assert sorted(i for span in kept for i in span) == list(range(1000))
    assert all(end - start == 400 for start, end, _, _ in spans)
    # two tight clusters: a coreset of two takes one point of each
    points = torch.cat([torch.randn(50, 8) * 0.01, torch.randn(50, 8) * 0.01 + 5])
    chosen = greedy_coreset(points, 2)
    assert {int(i) // 50 for i in chosen} == {0, 1}


def test_each_coreset_patch_is_the_farthest_from_those_kept_before_it():
    features = torch.randn(300, 16)
    chosen = greedy_coreset(features, 40, seed=3)
    # the same random projection the coreset measures distances in (16 dims: kept whole)
    projection = torch.randn(16, 16, generator=torch.Generator().manual_seed(3))
    projected = features @ projection
    assert len(set(chosen.tolist())) == 40
    for index in range(1, 40):
        nearest_kept = torch.cdist(projected, projected[chosen[:index]]).min(dim=1).values
        assert nearest_kept[chosen[index]] == pytest.approx(float(nearest_kept.max()),
                                                            rel=1e-4)


@pytest.mark.parametrize(("method", "thresholds"), [
    ("linear", "fixed"), ("supervised", "fixed"), ("fixmatch", "fixed"),
    ("fixmatch", "flexible")])
def test_classifiers_train_and_report(neu_knn_split, tmp_path, method, thresholds):
    train, test = neu_knn_split
    config = ClassifyConfig(backbone={"architecture": "resnet18"}, method=method,
                            labeled=str(train), unlabeled=str(test), val=str(test),
                            image_size=32, steps=2, batch_size=6, unlabeled_ratio=1,
                            thresholds=thresholds, device="cpu")
    report = train_classifier(config, tmp_path / "model")
    metrics = report["metrics"]
    assert len(metrics["confusion_matrix"]) == 6 and metrics["val_images"] == 24
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    assert evaluation["confusion_matrix"] == metrics["confusion_matrix"]
    wrong = [image for image in evaluation["images"] if image["true"] != image["predicted"]]
    assert len(wrong) == sum(sum(row) for row in metrics["confusion_matrix"]) - sum(
        metrics["confusion_matrix"][k][k] for k in range(6))
    assert all((tmp_path / "model" / image["picture"]).is_file() for image in wrong)
    assert 0 <= metrics["balanced_accuracy"] <= 1 and set(metrics["per_class"]) == set(
        report["classes"])
    results = list(predict(tmp_path / "model", [str(test / "crazing")], device="cpu"))
    assert len(results) == 4 and set(results[0]["scores"]) == set(report["classes"])
    assert sum(results[0]["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert ("pseudo_labels" in report) == (method == "fixmatch")


def test_fixmatch_records_what_it_took_each_unlabeled_image_to_be(neu_knn_split, tmp_path):
    train, test = neu_knn_split
    # confidence 0: every pseudo-label is confident and passes its bar
    config = ClassifyConfig(backbone={"architecture": "resnet18"}, method="fixmatch",
                            labeled=str(train), unlabeled=str(test), image_size=32, steps=2,
                            batch_size=6, unlabeled_ratio=1, confidence=0.0, device="cpu")
    summary = train_classifier(config, tmp_path / "model")["pseudo_labels"]
    record = json.loads((tmp_path / "model" / "pseudo_labels.json").read_text())
    unlabeled = {path.relative_to(test).as_posix() for path in test.rglob("*.*")}
    assert summary["unlabeled_images"] == len(unlabeled) == 24
    # two steps of 6 draws: between 1 and 12 distinct images read, each one recorded
    assert 1 <= summary["confidently_labeled"] == len(record["images"]) <= 12
    assert set(record["images"]) <= unlabeled
    assert set(record["images"].values()) <= set(summary["per_class"])
    assert sum(summary["per_class"].values()) == summary["confidently_labeled"]
    assert summary["used_fraction"] == 1.0 and summary["thresholds"] == "flexible"


def test_a_model_directory_of_another_format_or_task_is_refused(parts, tmp_path):
    config = AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(parts / "good"),
                           input_scale=1.0, bank_size=64, device="cpu")
    train_anomaly(config, tmp_path / "model")
    with pytest.raises(ModelDirectoryError, match="holds a model of task anomaly, not classify"):
        load_card(tmp_path / "model", task="classify")
    card = yaml.safe_load((tmp_path / "model" / "model.yaml").read_text())
    card["format"] = "hatchery.model/9"
    (tmp_path / "model" / "model.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(ModelDirectoryError, match=r"format 'hatchery\.model/9'"):
        load_card(tmp_path / "model")
    with pytest.raises(ModelDirectoryError, match="not a model directory"):
        load_card(tmp_path)


def test_masks_from_yolo_polygons_and_their_errors(tmp_path):
    (tmp_path / "a.txt").write_text("0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")
    mask = read_mask(tmp_path, Path("images/a.jpg"), 8, 8)
    assert mask.sum() == 25 and mask[4, 4] and not mask[0, 0]
    assert not read_mask(tmp_path, Path("b.jpg"), 8, 8).any()  # no file: a good part
    (tmp_path / "c.txt").write_text("0 0.1 0.1 0.2\n")
    with pytest.raises(MaskError, match=r"c\.txt line 1: a polygon needs"):
        read_mask(tmp_path, Path("c.jpg"), 8, 8)


def test_cli_finetune_and_predict(parts, tmp_path, capsys):
    assert main(["finetune", "anomaly", "--random-init", "resnet18", "--good",
                 str(parts / "good"), "--input-scale", "1", "--bank-size", "64",
                 "--device", "cpu", "--out", str(tmp_path / "model")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["task"] == "anomaly"
    assert main(["predict", "--model", str(tmp_path / "model"),
                 str(parts / "val_defect" / "d0.png"), "--device", "cpu"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert set(line) == {"image", "score", "threshold", "verdict"}
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "classify", "--random-init", "resnet18", "--labeled",
              str(parts), "--method", "fixmatch", "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 2
    assert "give unlabeled" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exports_match_the_eager_model(parts, neu_knn_split, tmp_path, fmt):
    """Preprocessing baked in: the export of an anomaly and a classify model gives what the
    eager model gives on the same image, within float rounding."""
    train_anomaly(AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(parts / "good"),
                                input_scale=0.75, bank_size=64, device="cpu"),
                  tmp_path / "anomaly")
    train, test = neu_knn_split
    train_classifier(ClassifyConfig(backbone={"architecture": "resnet18"}, method="linear",
                                    labeled=str(train), image_size=32, device="cpu"),
                     tmp_path / "classify")
    for name, sample in (("anomaly", parts / "val_defect" / "d0.png"),
                         ("classify", next((test / "crazing").iterdir()))):
        report = export_model(tmp_path / name, fmt, sample=sample)
        assert Path(report["out"]).is_file() and report["task"] == name
        assert report["max_abs_difference"] < 1e-3, report


def test_a_model_is_measured_beside_its_baselines_and_warned_when_it_does_not_beat_them(
        parts, tmp_path):
    from engine.downstream.baselines import beside_baselines
    from engine.downstream.finetune import finetune

    config = AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(parts / "good"),
                           val_good=str(parts / "val_good"),
                           val_defect=str(parts / "val_defect"), bank_size=256, device="cpu")
    report = finetune(config, tmp_path / "model", baselines=True)
    # a random-init model is its own random-init baseline: raw pixels only
    assert set(report["metrics"]["baselines"]) == {"raw_pixels"}
    assert 0 <= report["metrics"]["baselines"]["raw_pixels"]["image_auroc"] <= 1
    assert (tmp_path / "model" / "baselines" / "raw_pixels" / "model.yaml").is_file()
    assert all("raw pixels" in warning for warning in report["warnings"])
    # what it costs to use: the median prediction time and the weights' size
    assert report["metrics"]["latency_ms"] > 0
    assert report["metrics"]["model_bytes"] == (tmp_path / "model" / "weights.pt").stat().st_size

    warnings = beside_baselines("classify", {"balanced_accuracy": 0.5},
                                {"random_init": {"balanced_accuracy": 0.6},
                                 "raw_pixels": {"balanced_accuracy": 0.4}})
    assert len(warnings) == 1 and "a random-init network" in warnings[0]
    assert "0.500 against 0.600" in warnings[0]


def test_fixmatch_on_a_pretrained_backbone_starts_from_the_linear_probe(neu_knn_split,
                                                                          tmp_path):
    from engine.downstream.classify import _EMA
    from engine.schemas.pretrain import PretrainConfig
    from engine.train.pretrain import PretrainRun

    train, test = neu_knn_split
    PretrainRun(PretrainConfig.model_validate({
        "method": "mocov2", "data": {"path": str(train), "image_size": 32},
        "backbone": {"name": "resnet18", "small_input": False}, "heads": {"hidden_dim": 64},
        "batch_size": 8, "steps": 1, "memory": {"size": 16},
        "runtime": {"device": "cpu", "precision": "fp32", "checkpoint_every": 1}}),
        tmp_path / "pretrain").run()
    checkpoint = str(tmp_path / "pretrain" / "checkpoint.pt")
    common = {"backbone": {"checkpoint": checkpoint}, "labeled": str(train),
              "unlabeled": str(test), "val": str(test), "image_size": 32, "batch_size": 6,
              "unlabeled_ratio": 1, "device": "cpu"}
    train_classifier(ClassifyConfig(method="linear", **common), tmp_path / "probe")
    # one FixMatch step at a vanishing learning rate: the head is still the probe's
    train_classifier(ClassifyConfig(method="fixmatch", steps=1, learning_rate=1e-9, **common),
                     tmp_path / "fixmatch")
    heads = [load_weights(tmp_path / name)["model"]["head.weight"]
             for name in ("probe", "fixmatch")]
    assert torch.allclose(*heads, atol=1e-6)
    assert load_card(tmp_path / "fixmatch").settings["normalize_features"]

    # the average follows a short run: after 10 updates toward 1, it is past halfway
    weights = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(weights.weight)
    ema = _EMA(weights, decay=0.999)
    torch.nn.init.ones_(weights.weight)
    for _ in range(10):
        ema.update(weights)
    assert ema.model.weight.item() > 0.5


def test_a_pretrained_backbone_keeps_its_statistics_unless_asked(parts, tmp_path):
    """Its statistics were estimated where its weights learned; refitting them is an option
    (fit_normalization=True), the default only for random-init backbones."""
    from engine.eval.load import load_pretrained_backbone
    from engine.schemas.pretrain import PretrainConfig
    from engine.train.pretrain import PretrainRun

    PretrainRun(PretrainConfig.model_validate({
        "method": "mocov2", "data": {"path": str(parts / "good"), "image_size": 32},
        "backbone": {"name": "resnet18", "small_input": False}, "heads": {"hidden_dim": 64},
        "batch_size": 8, "steps": 1, "memory": {"size": 8},
        "runtime": {"device": "cpu", "precision": "fp32", "checkpoint_every": 1}}),
        tmp_path / "pretrain").run()
    checkpoint = str(tmp_path / "pretrain" / "checkpoint.pt")
    kept = load_pretrained_backbone(checkpoint, "cpu").backbone.network.bn1.running_mean
    fitted = {}
    for fit in (None, True):
        config = AnomalyConfig(backbone={"checkpoint": checkpoint}, good=str(parts / "good"),
                               bank_size=64, device="cpu", fit_normalization=fit)
        train_anomaly(config, tmp_path / f"model-{fit}")
        fitted[fit] = load_card(tmp_path / f"model-{fit}", task="anomaly").settings[
            "normalization_fitted_layers"]
        means = load_weights(tmp_path / f"model-{fit}")["backbone"]["network.bn1.running_mean"]
        assert torch.equal(means, kept) == (fit is None)
    assert fitted == {None: 0, True: 20}


def test_fixmatch_is_measured_beside_the_labels_alone(neu_knn_split, tmp_path):
    """FixMatch's baselines: the linear probes, and the same network from random init
    trained as many steps on the labels only, at the model's input size."""
    from engine.downstream.baselines import LABELS_ALONE
    from engine.downstream.finetune import finetune

    train, test = neu_knn_split
    config = ClassifyConfig(backbone={"architecture": "resnet18"}, method="fixmatch",
                            labeled=str(train), unlabeled=str(test), val=str(test),
                            image_size=32, steps=2, batch_size=6, unlabeled_ratio=1,
                            device="cpu")
    report = finetune(config, tmp_path / "model", baselines=True)
    baselines = report["metrics"]["baselines"]
    assert set(baselines) == {"raw_pixels", LABELS_ALONE}
    alone = load_card(tmp_path / "model" / "baselines" / LABELS_ALONE)
    assert alone.settings["method"] == "supervised" and not alone.settings["pretrained"]
    assert alone.preprocessing.image_size == 32
    assert 0 <= baselines[LABELS_ALONE]["balanced_accuracy"] <= 1
    # a linear probe is measured beside the labels alone too (on small defects they beat
    # it); a probe on raw pixels has no network to train on them
    probe = finetune(config.model_copy(update={"method": "linear", "unlabeled": None}),
                     tmp_path / "probe", baselines=True)
    assert set(probe["metrics"]["baselines"]) == {"raw_pixels", LABELS_ALONE}
    assert load_card(tmp_path / "probe" / "baselines" / LABELS_ALONE).settings["method"] \
        == "supervised"
    pixels = finetune(config.model_copy(update={
        "method": "linear", "unlabeled": None,
        "backbone": BackboneSource(architecture="raw_pixels")}),
        tmp_path / "pixels", baselines=True)
    assert LABELS_ALONE not in pixels["metrics"]["baselines"]


@pytest.mark.parametrize("kind", ["shared_crop", "own_crop"])
def test_fixmatch_strong_view_is_cut_where_its_weak_view_was(kind, monkeypatch):
    """With ``shared_crop`` the strong view recolors the weak view's crop, so a small
    defect the weak view's pseudo-label saw is in the strong view too; with the strong
    recoloring switched off, the two then differ only inside the cut-out square. With
    ``own_crop`` each view is cut on its own and most pixels differ."""
    from engine.downstream import classify

    monkeypatch.setattr(classify, "STRONG", classify.WEAK)
    images = [(index, torch.from_numpy(texture(index, size=48))[None]) for index in range(16)]
    views = classify.Views(24, 1, [0.5], [0.2], seed=0, device=torch.device("cpu"))
    weak, strong = views.pair(images, list(range(16)), torch.device("cpu"), kind)
    assert weak.shape == strong.shape == (16, 1, 24, 24)
    same = (weak == strong).float().mean().item()
    cut_out = round(24 * classify.CUTOUT_FRACTION) ** 2 / 24 ** 2
    if kind == "shared_crop":
        assert same >= 1 - cut_out - 1e-6
    else:
        assert same < 0.5
