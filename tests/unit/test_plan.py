"""hatchery plan: generated sets with known properties yield the expected choices, with
their reasons; the same inputs give the same plan."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from PIL import Image

from bench.parts import PartsSpec, generate
from engine.analysis.report import analyze_folder
from engine.cli import main
from engine.planning.plan import FIXMATCH_SPEED_RATIO, make_plan
from engine.schemas.finetune import ClassifySettings
from engine.schemas.pretrain import PretrainConfig


@pytest.fixture(scope="module")
def tiny_defects(tmp_path_factory) -> dict:
    """30 images (10 parts x 3 lightings) of 128 px with 2-4 px defects, gray."""
    root = generate(PartsSpec(parts=10, size=128, defect_size=(2, 4), defect_rate=0.5),
                    tmp_path_factory.mktemp("tiny"))
    return analyze_folder(root, masks=root / "masks").as_dict()


@pytest.fixture(scope="module")
def large_defects(tmp_path_factory) -> dict:
    root = generate(PartsSpec(parts=10, size=256, defect_size=(40, 60), defect_rate=0.5),
                    tmp_path_factory.mktemp("large"))
    return analyze_folder(root, masks=root / "masks").as_dict()


def reason(plan, choice: str):
    return next(r for r in plan.reasons if r.choice == choice)


def test_tiny_defects_get_the_local_objective_and_native_resolution_crops(tiny_defects):
    plan = make_plan(tiny_defects, "anomaly", budget_minutes=10, device="cpu")
    assert plan.pretrain.loss.dense_weight > 0
    assert "small" in reason(plan, "loss.dense_weight").why
    crop = plan.pretrain.augment.crop
    assert crop.unit == "pixels" and crop.scale[1] <= 128
    # the smallest defects keep 4 network pixels in a view, or their native size if smaller
    smallest = tiny_defects["labels"]["defect_sizes"]["short_side_px"]["p10"]
    assert smallest * plan.pretrain.data.image_size / crop.scale[1] >= min(4, smallest) - 1e-6
    assert "native resolution" in reason(plan, "augment.crop").why


def test_a_classifier_gets_views_at_the_scale_it_reads_whatever_the_defects(tiny_defects):
    plan = make_plan(tiny_defects, "classify", budget_minutes=10, device="cpu")
    crop = plan.pretrain.augment.crop
    assert crop.unit == "fraction" and crop.scale == (0.2, 1.0)
    why = reason(plan, "augment.crop").why
    assert f"resized to {plan.pretrain.data.image_size} px" in why and "NEU-DET" in why
    # the detectors read near native resolution: their views stay native crops
    assert make_plan(tiny_defects, "detect", 10, "cpu").pretrain.augment.crop.unit == "pixels"


def test_large_defects_keep_the_global_objective_and_whole_image_crops(large_defects):
    plan = make_plan(large_defects, "anomaly", budget_minutes=10, device="cpu")
    assert plan.pretrain.loss.dense_weight == 0
    assert "large" in reason(plan, "loss.dense_weight").why
    assert plan.pretrain.augment.crop.unit == "fraction"


def test_an_anomaly_plan_says_why_it_paints_no_defects(tiny_defects):
    plan = make_plan(tiny_defects, "anomaly", budget_minutes=10, device="cpu")
    assert plan.pretrain.loss.defect_weight == 0.0
    assert "KolektorSDD" in reason(plan, "loss.defect_weight").why
    assert plan.pretrain.augment.local_crops.count == 0
    assert "KolektorSDD" in reason(plan, "augment.local_crops.count").why
    # the pretrained backbone keeps its statistics; the random-init baseline's are fitted
    assert plan.finetune["fit_normalization"] is None
    assert "KolektorSDD" in reason(plan, "finetune.fit_normalization").why


def test_only_a_local_anomaly_plan_leaves_the_global_objective_out(tiny_defects,
                                                                   large_defects):
    anomaly = make_plan(tiny_defects, "anomaly", budget_minutes=10, device="cpu")
    assert anomaly.pretrain.loss.global_weight == 0 and anomaly.pretrain.loss.dense_weight > 0
    assert "KolektorSDD" in reason(anomaly, "loss.global_weight").why
    assert "global terms" in reason(anomaly, "method").why
    for task in ("classify", "detect", "segment"):
        plan = make_plan(tiny_defects, task, budget_minutes=10, device="cpu")
        assert plan.pretrain.loss.global_weight == 1
        assert "anomaly" in reason(plan, "loss.global_weight").why
    large = make_plan(large_defects, "anomaly", budget_minutes=10, device="cpu")
    assert large.pretrain.loss.global_weight == 1 and large.pretrain.loss.dense_weight == 0


def test_gray_images_get_no_hue_or_saturation_and_color_ones_do(tiny_defects, tmp_path):
    gray = make_plan(tiny_defects, "anomaly").pretrain.augment
    assert gray.view1.hue == gray.view1.saturation == gray.view1.grayscale_prob == 0
    rng = np.random.default_rng(0)
    for index in range(6):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(
            tmp_path / f"{index}.png")
    color = make_plan(analyze_folder(tmp_path).as_dict(), "anomaly")
    assert color.pretrain.augment.view1.hue > 0 and color.pretrain.augment.view1.saturation > 0
    assert "color" in reason(color, "augment.color").why


def test_rotations_follow_the_texture(tiny_defects):
    isotropic = copy.deepcopy(tiny_defects)
    isotropic["orientation"].update(rotation_invariant=True)
    assert make_plan(isotropic, "anomaly").pretrain.augment.rotate90
    along_axis = copy.deepcopy(tiny_defects)
    along_axis["orientation"].update(rotation_invariant=False, axis_aligned=True)
    augment = make_plan(along_axis, "anomaly").pretrain.augment
    assert not augment.rotate90 and augment.vflip_prob > 0
    slanted = copy.deepcopy(tiny_defects)
    slanted["orientation"].update(rotation_invariant=False, axis_aligned=False)
    augment = make_plan(slanted, "anomaly").pretrain.augment
    assert not augment.rotate90 and augment.vflip_prob == augment.hflip_prob == 0
    assert "slant" in reason(make_plan(slanted, "anomaly"), "augment.rotations").why


def test_thirty_images_against_thirty_thousand(tiny_defects):
    few = make_plan(tiny_defects, "classify", budget_minutes=20, device="cpu")
    assert tiny_defects["images"] == 30
    assert few.pretrain.batch_size == 16 and few.pretrain.memory.size <= 30
    assert "passes over them are enough" in reason(few, "steps").why
    many_analysis = copy.deepcopy(tiny_defects)
    many_analysis["images"] = 30_000
    many = make_plan(many_analysis, "classify", budget_minutes=20, device="cpu")
    assert many.pretrain.batch_size == 64 and many.pretrain.memory.size == 4096
    assert "of the budget" in reason(many, "steps").why
    assert many.pretrain.steps > few.pretrain.steps
    # the budget is kept: the estimate fits in it
    assert many.estimate["total_minutes"] <= 20 + 1e-6


def test_fixmatch_gets_the_steps_that_fit_in_its_half_of_the_budget(tiny_defects):
    settings = ClassifySettings()
    # FixMatch's step and the labels alone's (the baseline trained as many steps beside it)
    views_per_step = settings.batch_size * (1 + 2 * settings.unlabeled_ratio) \
        + settings.batch_size
    for budget in (20, 60):
        plan = make_plan(tiny_defects, "classify", budget_minutes=budget, device="cpu",
                         throughput=100.0)
        assert plan.finetune["method"] == "fixmatch"
        speed = 100.0 * FIXMATCH_SPEED_RATIO * (64 / plan.pretrain.data.image_size) ** 2
        fitting = int(budget / 2 * 60 * speed / views_per_step)
        assert plan.finetune["steps"] == min(settings.steps, fitting)
        assert plan.estimate["finetune_minutes"] == pytest.approx(
            plan.finetune["steps"] * views_per_step / speed / 60, abs=0.01)
        assert plan.estimate["total_minutes"] <= budget + 1e-6
    assert "fit in the 10.0 minutes" in reason(
        make_plan(tiny_defects, "classify", 20, "cpu", throughput=100.0), "finetune.steps").why
    # too little time for FixMatch to learn: a linear probe beside the labels alone for as
    # many steps as fit, said so
    short = make_plan(tiny_defects, "classify", budget_minutes=2, device="cpu",
                      throughput=100.0)
    assert short.finetune["method"] == "linear"
    why = reason(short, "finetune.method").why
    assert "linear probe" in why and "labels alone" in why
    speed = 100.0 * FIXMATCH_SPEED_RATIO * (64 / short.pretrain.data.image_size) ** 2
    fitting_alone = int(1 * 60 * speed / settings.batch_size)  # half of 2 minutes
    assert short.finetune["steps"] == min(settings.steps, fitting_alone)
    assert short.estimate["finetune_minutes"] == pytest.approx(
        short.finetune["steps"] * settings.batch_size / speed / 60, abs=0.01)
    assert short.estimate["total_minutes"] <= 2 + 1e-6


def test_a_local_only_anomaly_plan_stops_after_the_views_measured_best(tiny_defects):
    many_analysis = copy.deepcopy(tiny_defects)
    many_analysis["images"] = 30_000
    short = make_plan(many_analysis, "anomaly", budget_minutes=10, device="cpu")
    long = make_plan(many_analysis, "anomaly", budget_minutes=60, device="cpu")
    assert short.pretrain.steps == long.pretrain.steps == 150  # 9,600 views of 64
    assert "KolektorSDD" in reason(long, "steps").why
    # a quarter of the 48 minutes (80% of 60) it would have spent at most
    assert long.estimate["pretrain_minutes"] < 0.8 * 60 / 4
    # a budget too small for the cap keeps the budget's count
    tight = make_plan(many_analysis, "anomaly", budget_minutes=0.5, device="cpu")
    assert tight.pretrain.steps < 150 and "of the budget" in reason(tight, "steps").why


def test_the_gpu_plan_is_larger_and_says_gpu_hours(tiny_defects):
    plan = make_plan(tiny_defects, "detect", budget_minutes=60, device="cuda")
    assert plan.pretrain.data.image_size == 128 and plan.estimate["gpu_hours"] > 0
    assert plan.finetune["steps"] >= 50


def test_shots_of_one_part_are_measured_and_both_views_stay_one_shot(tiny_defects):
    assert tiny_defects["groups"]["images_in_them"] == 30  # 10 parts x 3 lightings
    plan = make_plan(tiny_defects, "anomaly")
    assert plan.pretrain.augment.other_shot_prob == 0 and plan.pretrain.data.groups is None
    why = reason(plan, "augment.other_shot_prob").why
    assert "30 images are shots of a part" in why and "0.609 -> 0.444" in why
    alone = copy.deepcopy(tiny_defects)
    alone["groups"] = {"multi_shot_groups": 0, "images_in_them": 0, "largest": 1,
                       "examples": []}
    assert "no image shares its part" in reason(make_plan(alone, "anomaly"),
                                                 "augment.other_shot_prob").why
    assert not plan.pretrain.memory.exclude_own_keys
    assert "no consistent effect" in reason(plan, "memory.exclude_own_keys").why


def test_same_inputs_same_plan_and_the_plan_file_is_valid(tiny_defects, tmp_path):
    first = make_plan(tiny_defects, "classify", 15, "cpu").as_dict()
    assert first == make_plan(copy.deepcopy(tiny_defects), "classify", 15, "cpu").as_dict()
    PretrainConfig.model_validate(first["pretrain"])  # a valid pretrain config as it is


def test_cli_plan_writes_plan_yaml_with_its_reasons(tmp_path, capsys):
    root = generate(PartsSpec(parts=4, size=96), tmp_path / "parts")
    out = tmp_path / "plan.yaml"
    assert main(["plan", "--data", str(root / "good"), "--task", "anomaly",
                 "--budget-minutes", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plan for anomaly on cpu, 5 minutes" in printed
    plan = yaml.safe_load(out.read_text())
    assert {"pretrain", "finetune", "estimate", "reasons"} <= set(plan)
    assert any(r["choice"] == "loss.dense_weight" for r in plan["reasons"])
    PretrainConfig.model_validate(plan["pretrain"])
