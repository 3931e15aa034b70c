"""Bad input: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def make_images(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full((40, 40), index * 5 % 255, np.uint8)).save(folder / f"{index}.png")
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "holds no readable image"),
        ("few", "batch_size: 16 images per step is more than data folder"),
        ("memory", "memory.size: 4096 keys is more than data folder"),
        ("method", "invalid choice: 'simclr'"),
        ("backbone", "invalid choice: 'vgg16'"),
        ("both_lengths", "not allowed with argument"),
        ("config_key", "config field optim.learning_rate: Extra inputs are not permitted"),
        ("mocov3_memory", "mocov3 contrasts within the batch and uses no memory"),
        ("relic_mocov2", "loss.relic_alpha: ReLIC needs two predictions per image"),
        ("one_direction_mocov3", "loss.symmetric: false is not an option of mocov3"),
        ("bool_steps", "config field steps: Input should be a valid integer"),
        ("nan_sigma", "config field augment.view1.blur_sigma.0: Input should be a finite"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case, expected):
    data = make_images(tmp_path / "images", 20)
    out = tmp_path / "run"
    args = ["pretrain", "--data", str(data), "--out", str(out), "--steps", "1",
            "--batch-size", "16", "--image-size", "32", "--device", "cpu"]
    if case == "missing":
        args[2] = str(tmp_path / "nowhere")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "readme.txt").write_text("no images here")
        args[2] = str(tmp_path / "empty")
    elif case == "few":
        args[2] = str(make_images(tmp_path / "few", 10))
    elif case == "memory":
        args += ["--memory-size", "4096"]
    elif case == "method":
        args += ["--method", "simclr"]
    elif case == "backbone":
        args += ["--backbone", "vgg16"]
    elif case == "both_lengths":
        args += ["--epochs", "2"]
    elif case == "config_key":
        config = tmp_path / "config.yaml"
        config.write_text("optim:\n  learning_rate: 0.1\n")
        args += ["--config", str(config)]
    elif case == "mocov3_memory":
        args += ["--method", "mocov3", "--memory", "priority"]
    elif case == "relic_mocov2":
        args += ["--method", "mocov2", "--relic-alpha", "0.5"]
    elif case == "bool_steps":
        config = tmp_path / "config.yaml"
        config.write_text("steps: true\n")
        args = [arg for arg in args if arg not in ("--steps", "1")] + ["--config", str(config)]
    elif case == "nan_sigma":
        config = tmp_path / "config.yaml"
        config.write_text("augment:\n  view1: {blur_sigma: [.nan, 1.0]}\n")
        args += ["--config", str(config)]
    elif case == "one_direction_mocov3":
        args += ["--method", "mocov3", "--directions", "one"]
    code, err = run_cli(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hatchery: error: "), err
    assert expected in err
    assert not out.exists()


def test_refuses_to_overwrite_a_run_without_resume(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"x")
    data = make_images(tmp_path / "images", 20)
    code, err = run_cli(["pretrain", "--data", str(data), "--out", str(out), "--steps", "1"],
                        capsys)
    assert code == 2 and "already holds a checkpoint" in err


def test_embed_of_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    code, err = run_cli(["embed", "--checkpoint", str(tmp_path / "none.pt"), "--data",
                         str(tmp_path), "--out", str(tmp_path / "f.npz")], capsys)
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
