"""hatchery analyze: generated sets with known properties yield the expected findings."""

from __future__ import annotations

import csv
import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.parts import PartsSpec, generate
from engine.analysis.report import analyze_folder, read_groups, write_groups
from engine.cli import main
from tests.conftest import NEU_CLASSES, NEU_IMAGES


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Path:
    """12 parts x 3 lightings, 96 px, a third defective, masks under parts/masks."""
    return generate(PartsSpec(parts=12, lightings=3, size=96, defect_size=(3, 6)),
                    tmp_path_factory.mktemp("parts"))


def planted_groups(root: Path) -> dict[str, str]:
    with (root / "groups.csv").open() as handle:
        return {row["path"]: row["group"] for row in csv.DictReader(handle)}


def test_finds_every_planted_shot_group_and_no_other(parts):
    report = analyze_folder(parts, masks=parts / "masks")
    planted = planted_groups(parts)
    assert sorted(report.paths) == sorted(planted)  # the masks are not images to learn from
    found = dict(zip(report.paths, report.groups, strict=True))
    pairs = list(combinations(report.paths, 2))
    same_planted = [(a, b) for a, b in pairs if planted[a] == planted[b]]
    assert all(found[a] == found[b] for a, b in same_planted)
    assert all(found[a] != found[b] for a, b in pairs if planted[a] != planted[b])
    assert report.labels is not None and report.labels.class_counts == {"defect": 12}
    sizes = report.labels.defect_sizes.summary()
    assert sizes is not None and 2 <= sizes["short_side_px"]["median"] <= 8
    assert report.gray and report.exact_duplicates == []


def test_duplicates_color_and_unreadable_files(tmp_path):
    rng = np.random.default_rng(0)
    gray = (rng.random((40, 50)) * 255).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "a.png")
    shutil.copy(tmp_path / "a.png", tmp_path / "a_copy.png")
    Image.fromarray(gray).save(tmp_path / "a_resaved.jpg", quality=98)
    color = (rng.random((30, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(color).save(tmp_path / "color.png")
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "rgb_gray.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")

    report = analyze_folder(tmp_path)
    assert report.exact_duplicates == [["a.png", "a_copy.png"]]
    assert any({"a.png", "a_resaved.jpg"} <= set(s) for s in report.near_duplicates)
    assert [path for path, _ in report.read.unreadable] == ["broken.png"]
    by_path = {facts.path: facts for facts in report.read.images}
    assert by_path["rgb_gray.png"].channels == 3 and by_path["rgb_gray.png"].gray_content
    assert not by_path["color.png"].gray_content and not report.gray


def stripes(angle: float, seed: int, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    along = x * np.cos(angle) + y * np.sin(angle)
    image = 0.5 + 0.3 * np.sin(along * 0.6 + rng.uniform(0, 6)) + rng.normal(0, 0.03, (size, size))
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize(("angles", "invariant"), [
    ([0.0] * 8, False),                                  # parallel lines, all alike
    (list(np.linspace(0, np.pi, 8, endpoint=False)), True),  # lines at every angle
    (None, True),                                        # grain: no direction at all
])
def test_orientation_decides_whether_rotations_are_safe(tmp_path, angles, invariant):
    for index in range(8):
        if angles is None:
            rng = np.random.default_rng(index)
            image = (rng.random((96, 96)) * 255).astype(np.uint8)
        else:
            image = stripes(angles[index], index)
        Image.fromarray(image).save(tmp_path / f"{index}.png")
    orientation = analyze_folder(tmp_path).orientation
    assert orientation is not None and orientation.rotation_invariant is invariant


# NEU-DET's real repeats: one file twice, and two defects shot twice under another exposure
NEU_REPEATS = [["inclusion_188.jpg", "inclusion_210.jpg"], ["patches_101.jpg", "patches_105.jpg"],
               ["pitted_surface_171.jpg", "pitted_surface_292.jpg"]]


def test_neu_det_subset_groups_only_its_real_repeats(tmp_path):
    """90 distinct NEU-DET images plus the data set's three repeated shots: the three
    repeats are found and nothing else is grouped."""
    if not NEU_IMAGES.is_dir():
        pytest.skip(f"NEU-DET images not found at {NEU_IMAGES}")
    repeats = {name for pair in NEU_REPEATS for name in pair}
    for class_name in NEU_CLASSES:
        files = sorted(NEU_IMAGES.glob(f"{class_name}_*.jpg"))[:20]
        for path in [p for p in files if p.name not in repeats][:15]:
            shutil.copy(path, tmp_path / path.name)
    for name in repeats:
        shutil.copy(NEU_IMAGES / name, tmp_path / name)
    report = analyze_folder(tmp_path)
    assert len(report.paths) == 96
    assert report.multi_shot_groups == NEU_REPEATS
    assert report.exact_duplicates == [["patches_101.jpg", "patches_105.jpg"]]


def test_cli_writes_the_report_and_a_groups_file(parts, tmp_path, capsys):
    out = tmp_path / "analysis" / "report.json"
    assert main(["analyze", "--data", str(parts), "--masks", str(parts / "masks"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shots of one part: 12 groups holding 36 images" in printed
    report = json.loads(out.read_text())
    assert report["images"] == 36 and report["groups"]["multi_shot_groups"] == 12
    groups = read_groups(out.with_name("groups.csv"))
    assert len(groups) == 36 and len(set(groups.values())) == 12


def test_groups_file_round_trips(parts, tmp_path):
    report = analyze_folder(parts, masks=parts / "masks")
    write_groups(report, tmp_path / "groups.csv")
    assert read_groups(tmp_path / "groups.csv") == {
        path: f"part{group:04d}" for path, group in zip(report.paths, report.groups,
                                                        strict=True)}


def test_a_folder_without_images_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "--data", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no readable image" in capsys.readouterr().err
