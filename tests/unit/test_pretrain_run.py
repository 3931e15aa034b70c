"""End-to-end CPU runs on a NEU-DET subset: smoke, exact resume, embed and kNN through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.distributed import cpu_has_fast_bf16
from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun, TrainingDiverged
from engine.train.progress import Progress


def tiny_config(data, method="hatchery", steps=4, **overrides) -> PretrainConfig:
    fields = {
        "method": method,
        "data": {"path": str(data), "image_size": 32},
        "backbone": {"name": "resnet18"},
        "heads": {"hidden_dim": 64},
        "batch_size": 8,
        "steps": steps,
        "runtime": {"device": "cpu", "precision": "fp32", "log_every": 1,
                    "checkpoint_every": 2},
    }
    fields.update(overrides)
    return PretrainConfig.model_validate(fields)


def losses(run_dir) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


@pytest.mark.parametrize("method", ["mocov2", "mocov3", "moby", "hatchery"])
def test_every_method_trains_and_writes_its_artifacts(neu_small, tmp_path, method):
    seen: list[Progress] = []
    result = PretrainRun(tiny_config(neu_small, method, steps=3), tmp_path / "run",
                         callbacks=[seen.append]).run()
    assert result.status == "completed" and result.step == 3
    assert [p.step for p in seen] == [1, 2, 3]
    assert all(np.isfinite(p.loss) and p.images_per_second > 0 for p in seen)
    for name in ("checkpoint.pt", "config.yaml", "metrics.jsonl"):
        assert (tmp_path / "run" / name).is_file()


def test_hatchery_trains_one_direction_per_step(neu_small, tmp_path):
    config = tiny_config(neu_small, steps=2, loss={"symmetric": False})
    run = PretrainRun(config, tmp_path / "run")
    assert run.run().status == "completed"
    assert run.method.symmetric is False
    assert all(np.isfinite(loss) for loss in losses(tmp_path / "run"))


@pytest.mark.parametrize(
    ("method", "backbone"),
    [("mocov3", {"name": "vit_small", "freeze_patch_embed": True}),
     ("hatchery", {"name": "vit_small", "stem": "conv"}),
     ("moby", {"name": "swin_tiny"})],
)
def test_transformer_backbones_train(neu_small, tmp_path, method, backbone):
    config = tiny_config(neu_small, method, steps=1, backbone=backbone,
                         optim={"name": "adamw"})
    run = PretrainRun(config, tmp_path / "run")
    frozen_before = {name: p.clone() for name, p in run.method.named_parameters()
                     if not p.requires_grad and name.startswith("online_encoder")}
    result = run.run()
    assert result.status == "completed"
    assert run.config.backbone.drop_path == (0.0 if method == "mocov3" else
                                             (0.2 if backbone["name"] == "swin_tiny" else 0.1))
    for name, before in frozen_before.items():  # MoCo v3's frozen random patch projection
        torch.testing.assert_close(dict(run.method.named_parameters())[name], before)
    if backbone.get("freeze_patch_embed"):
        assert frozen_before


@pytest.mark.parametrize("overrides", [
    {}, {"loss": {"dense_weight": 1.0, "defect_weight": 1.0},
         "augment": {"local_crops": {"count": 2}}},
], ids=["global", "with-local-objective-defects-and-local-crops"])
def test_resume_continues_the_uninterrupted_loss_curve(neu_small, tmp_path, overrides):
    assert_resume_matches(lambda: tiny_config(neu_small, steps=6, **overrides), tmp_path)


def test_resume_with_view_2_from_other_shots_and_own_keys_excluded(neu_small, tmp_path):
    """Other shots drawn per step, and the memories' owners: a resumed run draws the
    partners the first one would and masks the same keys. (NEU has no shots of one part;
    the test's groups are its class folders.)"""
    groups = tmp_path / "groups.csv"
    images = sorted(neu_small.rglob("*.jpg"))
    groups.write_text("path,group\n" + "".join(
        f"{path.relative_to(neu_small).as_posix()},{path.parent.name}\n" for path in images))

    def config():
        config = tiny_config(neu_small, steps=6, augment={"other_shot_prob": 1.0},
                             memory={"exclude_own_keys": True})
        config.data.groups = str(groups)
        return config

    straight = assert_resume_matches(config, tmp_path)
    report = json.loads((tmp_path / "straight" / "data.json").read_text())
    assert report["images_with_another_shot"] == len(images) and report["own_keys_excluded"]
    owners = set(straight.method.memory1.owners.tolist()) - {-1}
    assert 1 <= len(owners) <= 6  # the keys' owners are the parts: here one per class


def assert_resume_matches(config, tmp_path) -> PretrainRun:
    """Six steps straight, and three + resume + three: the same losses and weights; the
    straight run."""
    straight_run = PretrainRun(config(), tmp_path / "straight")
    assert straight_run.run().status == "completed"

    calls = {"n": 0}

    def cancel_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    first = PretrainRun(config(), tmp_path / "resumed", should_cancel=cancel_after_three).run()
    assert first.status == "cancelled" and first.step == 3
    second = PretrainRun(config(), tmp_path / "resumed", resume=True).run()
    assert second.status == "completed" and second.step == 6
    assert len(losses(tmp_path / "resumed")) == 6
    torch.testing.assert_close(losses(tmp_path / "resumed"), losses(tmp_path / "straight"))
    resumed_state = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    straight_state = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    for name, tensor in straight_state["method"].items():
        torch.testing.assert_close(resumed_state["method"][name], tensor, msg=name)
    return straight_run


def test_sigterm_saves_a_checkpoint_and_exits_143(neu_small, tmp_path):
    """A real SIGTERM to a running `hatchery pretrain`: it saves and exits 143."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "engine.cli", "pretrain", "--data", str(neu_small),
               "--out", str(out), "--steps", "400", "--batch-size", "8", "--image-size", "32",
               "--device", "cpu", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    metrics = out / "metrics.jsonl"
    for _ in range(600):
        if metrics.exists() and metrics.read_text().count("\n") >= 2:
            break
        if process.poll() is not None:
            break
        torch.multiprocessing.Event().wait(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err.decode()
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    assert 2 <= saved["step"] < 400


def test_cli_pretrain_embed_and_knn(neu_small, neu_knn_split, tmp_path, capsys):
    train, test = neu_knn_split
    out = tmp_path / "run"
    code = main(["pretrain", "--data", str(neu_small), "--out", str(out), "--steps", "2",
                 "--batch-size", "8", "--image-size", "32", "--device", "cpu", "--quiet",
                 "--eval-train", str(train), "--eval-test", str(test), "--eval-every", "2"])
    assert code == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    knn_records = [r for r in records if "knn" in r]
    assert knn_records and 0 <= knn_records[-1]["knn"]["k=20"]["balanced_accuracy"] <= 1

    features = tmp_path / "features.npz"
    assert main(["embed", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(neu_small),
                 "--out", str(features), "--device", "cpu"]) == 0
    saved = np.load(features)
    assert saved["features"].shape == (48, 512)
    np.testing.assert_allclose(np.linalg.norm(saved["features"], axis=1), 1.0, rtol=1e-4)
    assert saved["paths"][0].startswith("crazing/")

    capsys.readouterr()
    assert main(["eval", "knn", "--checkpoint", str(out / "checkpoint.pt"), "--train",
                 str(train), "--test", str(test), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"k=20", "k=200", "baselines", "warnings"}
    # beside it, the same kNN for a random-init network and for raw pixels
    assert set(report["baselines"]) == {"random_init", "raw_pixels"}
    assert set(report["baselines"]["raw_pixels"]) == {"k=20", "k=200"}
    assert isinstance(report["warnings"], list)
    assert set(report["k=20"]["per_class_recall"]) == {
        "crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"}


def test_cpu_autocast_to_bf16_only_where_the_cpu_computes_bf16():
    """AVX-512 alone is not enough: oneDNN emulates bf16 there, 2.6x slower than fp32."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    flags = {flag for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split()}
    assert cpu_has_fast_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def _poisoned(run: PretrainRun) -> PretrainRun:
    """Every loss of ``run`` is NaN: NaN weights in its online encoder."""
    with torch.no_grad():
        next(run.method.online_encoder.parameters()).fill_(float("nan"))
    return run


@pytest.mark.parametrize(("steps", "stopped_at"), [(10, 3), (2, 2)])
def test_a_loss_that_stays_nan_fails_the_run_and_keeps_no_checkpoint(neu_small, tmp_path,
                                                                     steps, stopped_at):
    """Ten steps stop after three NaN steps in a row; a run that ends NaN before the limit
    fails at its end: neither leaves a checkpoint, whatever it saved before."""
    seen: list[Progress] = []
    config = tiny_config(neu_small, steps=steps, runtime={
        "device": "cpu", "precision": "fp32", "log_every": 1, "checkpoint_every": 1,
        "max_nonfinite_steps": 3})
    (tmp_path / "run").mkdir()
    run = _poisoned(PretrainRun(config, tmp_path / "run", callbacks=[seen.append]))
    with pytest.raises(TrainingDiverged, match=f"NaN or infinite for {stopped_at} steps"):
        run.run()
    assert run.step == stopped_at
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert all(p.as_dict()["loss"] is None for p in seen)  # JSON-safe: NaN reads null
