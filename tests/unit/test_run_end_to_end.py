"""hatchery run: a folder of images to a model directory and report.md in one command, on a
NEU-DET subset on the CPU; run again, it keeps what is done."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from bench.parts import PartsSpec, generate
from engine.cli import main
from engine.data.annotations import read_annotations
from engine.downstream.model_dir import load_card
from engine.errors import HatcheryInputError
from engine.planning.run import RunRequest, run_end_to_end
from tests.unit.test_detect import part, voc_set


def test_run_classifies_a_neu_subset_and_resumes_without_redoing(neu_small, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--data", str(neu_small), "--task", "classify", "--budget-minutes", "0.2",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for stage in ("[1/5] analyze", "[2/5] plan", "[3/5] pretrain", "[4/5] finetune",
                  "[5/5] evaluate"):
        assert stage in printed
    card = load_card(out / "model")
    assert card.task == "classify" and len(card.class_names) == 6
    report = json.loads((out / "model" / "report.json").read_text())
    # the best of the plan's model and its baselines on the held-out parts is delivered;
    # the budget fits no FixMatch: a linear probe, beside the labels alone too
    candidates = report["candidates"]
    assert set(candidates) == {"pretrained", "random_init", "raw_pixels", "labels_alone"}
    metrics = report["metrics"]
    assert 0 <= metrics["balanced_accuracy"] <= 1
    assert metrics["balanced_accuracy"] == max(c["balanced_accuracy"] for c in candidates.values())
    assert set(metrics["baselines"]) == set(candidates) - {report["delivered"]}
    markdown = (out / "report.md").read_text()
    assert "## The plan and why" in markdown and "| the raw pixels" in markdown
    assert markdown.count("(**delivered**)") == 1

    # the validation split holds whole groups and no training image
    train = {p.name for p in (out / "data" / "train").rglob("*.jpg")}
    val = {p.name for p in (out / "data" / "val").rglob("*.jpg")}
    assert train and val and not train & val

    checkpoint = (out / "pretrain" / "checkpoint.pt").stat().st_mtime_ns
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "[3/5] pretrain (done before: kept)" in again
    assert "[4/5] finetune (done before: kept)" in again
    assert (out / "pretrain" / "checkpoint.pt").stat().st_mtime_ns == checkpoint


def test_run_anomaly_keeps_each_part_on_one_side(tmp_path):
    parts = generate(PartsSpec(parts=6, size=64, defect_size=(2, 4), defect_rate=0.5),
                     tmp_path / "parts")
    result = run_end_to_end(RunRequest(data=str(parts), task="anomaly", out=str(tmp_path / "r"),
                                       masks=str(parts / "masks"), budget_minutes=0.15,
                                       progress_bar=False), say=lambda _: None)
    assert 0 <= result["metrics"]["image_auroc"] <= 1
    data = tmp_path / "r" / "data"
    part_of = {p.name: p.name.split("_")[0] for p in data.rglob("*.png")}
    train_parts = {part_of[p.name] for p in (data / "good").iterdir()}
    val_parts = {part_of[p.name] for folder in ("val_good", "val_defect")
                 for p in (data / folder).iterdir()}
    assert train_parts and val_parts and not train_parts & val_parts
    assert not any("masks" in str(p.resolve()) for p in (data / "unlabeled").iterdir())


def test_run_detects_with_a_pretrained_backbone_beside_a_random_init_one(tmp_path, capsys):
    """Boxed generated parts (Pascal VOC) plus parts nobody boxed: the boxed ones split by
    part into COCO files, the others left to the teacher, the baseline trained beside."""
    data = voc_set(tmp_path / "parts", range(10))
    for seed in range(10, 14):  # images without an .xml: unlabeled
        Image.fromarray(part(seed)[0]).save(data / f"p{seed}.png")
    out = tmp_path / "run"
    assert main(["run", "--data", str(data), "--labels", str(data), "--task", "detect",
                 "--budget-minutes", "0.1", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "model" / "report.json").read_text())
    assert report["method"] == "semi-supervised"
    assert 0 <= report["metrics"]["box"]["map_50"] <= 1
    assert set(report["candidates"]) == {"pretrained", "random_init"}
    assert set(report["candidates"]["random_init"]["box"]) == {"map_50", "map"}
    train = read_annotations(out / "data" / "train.json")
    val = read_annotations(out / "data" / "val.json")
    names = {image.path.name for image in train.images} | {i.path.name for i in val.images}
    assert len(names) == len(train.images) + len(val.images) == 10
    assert sorted(p.name for p in (out / "data" / "unlabeled_only").iterdir()) == [
        f"p{seed}.png" for seed in range(10, 14)]
    assert train.objects + val.objects == 15  # a spot on each part, a bar on every other
    markdown = (out / "report.md").read_text()
    assert "box.map_50" in markdown and "Raw pixels cannot feed a detector" in markdown
    assert load_card(out / "model").task == "detect"


def test_run_refuses_what_it_cannot_learn_from(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--data", str(tmp_path), "--task", "detect", "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert "give --labels" in capsys.readouterr().err
    data = voc_set(tmp_path / "boxes", range(4))
    with pytest.raises(HatcheryInputError, match=r"p0\.png has a box without one"):
        run_end_to_end(RunRequest(data=str(data), labels=str(data), task="segment",
                                  out=str(tmp_path / "s"), budget_minutes=0.1,
                                  progress_bar=False), say=lambda _: None)
