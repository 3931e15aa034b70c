"""hatchery run: a folder of images to a model directory and report.md in one command, on a
NEU-DET subset on the CPU; run again, it keeps what is done."""

from __future__ import annotations

import json

import pytest

from bench.parts import PartsSpec, generate
from engine.cli import main
from engine.downstream.model_dir import load_card
from engine.planning.run import RunRequest, run_end_to_end


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
    metrics = report["metrics"]
    assert 0 <= metrics["balanced_accuracy"] <= 1
    assert set(metrics["baselines"]) == {"random_init", "raw_pixels"}
    markdown = (out / "report.md").read_text()
    assert "## The plan and why" in markdown and "baseline: raw pixels" in markdown

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


def test_run_refuses_a_task_it_cannot_finish(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--data", str(tmp_path), "--task", "detect", "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert "hatchery plan" in capsys.readouterr().err
