"""hatchery run delivers the best of its candidates on the held-out parts: the plan's model
unless a baseline measured beside it scores higher, whole directories, ties to the plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine.downstream.anomaly import load_anomaly_model
from engine.downstream.finetune import finetune
from engine.downstream.model_dir import load_card
from engine.planning.deliver import PRETRAINED, choose, deliver
from engine.planning.report_md import pseudo_label_lines
from engine.schemas.finetune import AnomalyConfig
from tests.unit.test_downstream import write_parts


def test_the_highest_headline_figure_wins_and_ties_go_to_the_plan():
    assert choose("anomaly", {PRETRAINED: {"image_auroc": 0.7},
                              "random_init": {"image_auroc": 0.8},
                              "raw_pixels": {"image_auroc": 0.75}}) == "random_init"
    assert choose("anomaly", {PRETRAINED: {"image_auroc": 0.8},
                              "random_init": {"image_auroc": 0.8}}) == PRETRAINED
    assert choose("detect", {PRETRAINED: {"box": {"map_50": 0.2}},
                             "random_init": {"box": {"map_50": 0.3}}}) == "random_init"
    # no figure to rank on (nothing held out): the plan's model
    assert choose("classify", {PRETRAINED: {}}) == PRETRAINED


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """An anomaly model finetune wrote with its baselines, as hatchery run's candidates: the
    plan's model here on a random-init network, so its one baseline is the raw pixels."""
    root = write_parts(tmp_path_factory.mktemp("deliver"), good=6, val=3)
    config = AnomalyConfig(backbone={"architecture": "resnet18"}, good=str(root / "good"),
                           val_good=str(root / "val_good"),
                           val_defect=str(root / "val_defect"), bank_size=128, device="cpu")
    out = root / "candidates" / PRETRAINED
    report = finetune(config, out, baselines=True)
    (out / "report.json").write_text(json.dumps(report, default=str))
    return out


def _with_plan_scoring(finetuned: Path, image_auroc: float, folder: Path) -> Path:
    """A copy of the candidates whose plan's model reads ``image_auroc``."""
    copy = folder / "candidates" / PRETRAINED
    shutil.copytree(finetuned, copy)
    report = json.loads((copy / "report.json").read_text())
    report["metrics"]["image_auroc"] = image_auroc
    (copy / "report.json").write_text(json.dumps(report))
    return copy


def test_a_baseline_that_beats_the_plan_is_delivered_whole(finetuned, tmp_path):
    candidates = _with_plan_scoring(finetuned, 0.1, tmp_path)
    raw_pixels = candidates / "baselines" / "raw_pixels"
    delivered = deliver("anomaly", candidates, tmp_path / "model")

    assert delivered["delivered"] == "raw_pixels"
    assert set(delivered["candidates"]) == {PRETRAINED, "raw_pixels"}
    assert delivered["metrics"]["baselines"] == {PRETRAINED: delivered["candidates"][PRETRAINED]}
    assert delivered["metrics"]["image_auroc"] == load_card(raw_pixels).metrics["image_auroc"]
    # what the delivered model costs to use is its own, not the plan's
    assert delivered["metrics"]["model_bytes"] == (raw_pixels / "weights.pt").stat().st_size
    assert delivered["metrics"]["latency_ms"] == delivered["candidates"]["raw_pixels"][
        "latency_ms"] > 0
    assert "scored below the raw pixels" in delivered["warnings"][0]
    assert "image_auroc 0.100 against" in delivered["warnings"][0]
    # the raw-pixel model, weights and heat maps, nothing of the plan's
    assert load_card(tmp_path / "model").backbone["name"] == "raw_pixels"
    assert ((tmp_path / "model" / "weights.pt").read_bytes()
            == (raw_pixels / "weights.pt").read_bytes())
    assert not (tmp_path / "model" / "baselines").exists()
    assert json.loads((tmp_path / "model" / "report.json").read_text()) == json.loads(
        json.dumps(delivered))
    model, _ = load_anomaly_model(tmp_path / "model", torch.device("cpu"))
    assert model.bank is not None

    # delivered once: run again, read back, not copied again
    stamp = (tmp_path / "model" / "weights.pt").stat().st_mtime_ns
    assert deliver("anomaly", candidates, tmp_path / "model") == json.loads(
        json.dumps(delivered))
    assert (tmp_path / "model" / "weights.pt").stat().st_mtime_ns == stamp


def test_the_plan_keeps_a_tie_and_its_own_report(finetuned, tmp_path):
    baseline = json.loads((finetuned / "report.json").read_text())["metrics"]["baselines"]
    candidates = _with_plan_scoring(finetuned, baseline["raw_pixels"]["image_auroc"], tmp_path)
    delivered = deliver("anomaly", candidates, tmp_path / "model")

    assert delivered["delivered"] == PRETRAINED
    assert delivered["metrics"]["baselines"] == baseline
    assert delivered["bank_size"] == 128  # finetune's own report, carried over
    assert load_card(tmp_path / "model").backbone["name"] == "resnet18"
    assert not (tmp_path / "model" / "baselines").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_what_fixmatch_made_of_the_unlabeled_images_outlives_its_defeat(finetuned, tmp_path):
    """A FixMatch report's pseudo-label summary stays in the delivered report when a baseline
    wins (it tells why FixMatch lost), and report.md spells it out. (The fixture's candidates
    are anomaly models: deliver passes the summary on whatever the task.)"""
    candidates = _with_plan_scoring(finetuned, 0.1, tmp_path)
    report = json.loads((candidates / "report.json").read_text())
    report["pseudo_labels"] = {"unlabeled_images": 40, "confidently_labeled": 30,
                               "per_class": {"good": 6, "pit": 24}, "confidence": 0.95,
                               "thresholds": "flexible", "used_fraction": 0.8125}
    (candidates / "report.json").write_text(json.dumps(report))
    delivered = deliver("anomaly", candidates, tmp_path / "model")
    assert delivered["delivered"] == "raw_pixels"
    assert delivered["pseudo_labels"] == report["pseudo_labels"]
    lines = pseudo_label_lines(delivered["pseudo_labels"])
    assert "about 30 of 40 images, last taken as: good 6, pit 24" in lines[1]
    assert lines[2].startswith("- 81% of the pseudo-labels it read passed their bars (flexible)")
    assert pseudo_label_lines(None) == []
