"""View 2 from another shot of the same part: who partners whom, the draw, the views, and
where the setting is refused."""

from __future__ import annotations

import pytest
import torch

from engine.data.augment import TwoViewAugment
from engine.data.other_shots import OtherShots
from engine.errors import HatcheryInputError, JobConfigError
from engine.schemas.kinds import validate_job
from engine.schemas.pretrain import AugmentConfig, PretrainConfig
from engine.schemas.recipes import byol_views
from engine.schemas.runnable import DataFacts, check_pretrain

SHAPES = [(40, 40), (40, 40), (40, 40), (40, 60), (40, 40), (40, 40)]
GROUPS = ["a", "a", "a", "a", "b", None]


def test_partners_are_the_other_shots_of_the_part_of_the_same_size():
    shots = OtherShots.from_groups(GROUPS, SHAPES)
    # image 3 is in part a but of another size: its crops would not line up
    assert shots.partners == [[1, 2], [0, 2], [0, 1], [], [], []]
    assert shots.images_with_partner == 3
    # parts, named by their first image: the memory leaves a part's own keys out
    assert shots.part_of.tolist() == [0, 0, 0, 0, 4, 5]


def test_the_draw_keeps_images_without_partners_and_is_fixed_by_the_generator():
    shots = OtherShots.from_groups(GROUPS, SHAPES)
    indices = torch.arange(6)
    never = shots.draw(indices, 0.0, torch.Generator().manual_seed(0))
    assert never.tolist() == list(range(6))
    seen: set[tuple[int, int]] = set()
    for seed in range(40):
        drawn = shots.draw(indices, 1.0, torch.Generator().manual_seed(seed))
        assert drawn[3:].tolist() == [3, 4, 5]  # no partner: itself
        for index in range(3):
            assert int(drawn[index]) in shots.partners[index]
            seen.add((index, int(drawn[index])))
        again = shots.draw(indices, 1.0, torch.Generator().manual_seed(seed))
        assert torch.equal(drawn, again)
    assert seen == {(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)}  # every partner drawn
    half = torch.stack([shots.draw(indices, 0.5, torch.Generator().manual_seed(seed))[:3]
                        for seed in range(200)])
    assert 0.35 < (half != torch.arange(3)).float().mean() < 0.65


def test_groups_file_paths_are_relative_to_the_data_folder(tmp_path):
    paths = [tmp_path / "data" / name for name in ("good/p1.png", "good/p2.png", "x.png")]
    groups = tmp_path / "groups.csv"
    groups.write_text("path,group\ngood/p1.png,part1\ngood/p2.png,part1\nx.png,part2\n")
    shots = OtherShots.from_groups_file(groups, tmp_path / "data", paths, [(8, 8)] * 3)
    assert shots.partners == [[1], [0], []]
    with pytest.raises(HatcheryInputError, match=r"names none of the images .* good/p1\.png"):
        OtherShots.from_groups_file(groups, tmp_path / "data", [tmp_path / "y.png"], [(8, 8)])
    with pytest.raises(HatcheryInputError, match=r"missing\.csv does not exist"):
        OtherShots.from_groups_file(tmp_path / "missing.csv", tmp_path, paths, [(8, 8)] * 3)


def test_view_2_is_cut_from_the_other_shots_and_view_1_is_unchanged():
    views = byol_views(32)
    augment = TwoViewAugment(AugmentConfig(view1=views[0], view2=views[1]), 32, 1,
                             [0.5], [0.25])
    images = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    others = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    sizes = torch.full((4, 2), 48)

    def views_of(first, second=None):
        generator = torch.Generator().manual_seed(7)
        (view1, _), (view2, _) = augment.with_geometry(first, sizes, generator, second)
        return view1, view2

    plain1, plain2 = views_of(images)
    mixed1, mixed2 = views_of(images, (others, sizes))
    _, from_others = views_of(others)
    assert torch.equal(mixed1, plain1)  # view 1: the image's own, drawn alike
    assert torch.equal(mixed2, from_others)  # view 2: the same cut, from the other shot
    assert not torch.equal(mixed2, plain2)
    same1, same2 = views_of(images, (images, sizes))
    assert torch.equal(same1, plain1) and torch.equal(same2, plain2)


def test_other_shots_need_a_groups_file_and_platform_jobs_cannot_name_one(tmp_path):
    config = PretrainConfig.model_validate({"data": {"path": str(tmp_path)},
                                            "augment": {"other_shot_prob": 0.5},
                                            "batch_size": 8, "memory": {"size": 16}})
    with pytest.raises(JobConfigError, match=r"augment\.other_shot_prob.*needs data\.groups"):
        check_pretrain(config, DataFacts("data folder", 64))
    config.data.groups = str(tmp_path / "groups.csv")
    check_pretrain(config, DataFacts("data folder", 64))

    version = "dataset-version://00000000-0000-0000-0000-000000000001"
    with pytest.raises(JobConfigError, match=r"data\.groups.*file on the engine's host"):
        validate_job("pretrain", {}, {"data": {"path": version, "groups": "/etc/groups.csv"}})
    validate_job("pretrain", {}, {"data": {"path": version}})
