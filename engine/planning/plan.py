"""``hatchery plan``: from what the data is like and what the user wants to a complete recipe,
each choice with its reason in plain words.

    analysis = analyze_folder("parts/", masks="parts/masks").as_dict()
    plan = make_plan(analysis, task="anomaly", budget_minutes=20, device="cpu")
    plan.pretrain          # a PretrainConfig: the self-supervised subtasks and their settings
    plan.finetune          # the downstream model's settings (AnomalySettings, ...)
    plan.reasons           # [Reason(choice, value, why), ...]
    plan.estimate          # minutes (and GPU-hours) before anything runs

A pure function of its inputs (the analysis, the task, the budget, the device and the
throughput the device measured or its nominal one): the same inputs give the same plan.
Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.schemas.detect import DetectSettings
from engine.schemas.finetune import AnomalySettings, ClassifySettings
from engine.schemas.planning import PlanDevice
from engine.schemas.planning import PlanTask as Task
from engine.schemas.pretrain import PretrainConfig, ViewAugmentConfig
from engine.schemas.recipes import byol_views, resolve_pretrain_config

# Images per second of Hatchery's default pretraining at 64 px (ResNet-18, standard stem,
# batch 64): 164 on 2 CPU cores (bench/dense_cost.py, docs/benchmarks.md section 8), 970 on
# one H200 (issue 15's figure; no GPU was lent to measure it again).
NOMINAL_THROUGHPUT: dict[str, float] = {"cpu": 164.0, "cuda": 970.0}
REFERENCE_SIZE = 64
# The local objective's extra cost per step (its heads and the sampled points), measured by
# bench/dense_cost.py at 64 px on the CPU: 0.443 against 0.390 s per step.
DENSE_COST = 1.14
# The network input side: what the device affords per image.
BASE_IMAGE_SIZE: dict[str, int] = {"cpu": 64, "cuda": 128}
BATCH_SIZE: dict[str, int] = {"cpu": 64, "cuda": 256}
# FixMatch's views per second (labeled, weak and strong, forward and backward) against
# pretraining's images per second on the same device: 600 steps of 288 views in 16 minutes
# against 300 steps of 128 images in 4.5 on 2 CPU cores (docs/benchmarks.md, session 32).
FIXMATCH_SPEED_RATIO = 1.25
FEW_FIXMATCH_STEPS = 100  # fewer than this fit in the budget: a linear probe instead
# A defect must stay this many network pixels across after resizing, or the features
# cannot see it (PatchCore's middle stages look at 8-16 px cells).
MIN_DEFECT_NETWORK_PX = 4.0
# Without labeled defects the plan assumes they are this small (native pixels): the common
# case in inspection, and the safe one (a plan for small defects still sees large ones).
ASSUMED_DEFECT_PX = 8.0
# Defects whose shorter side is under this fraction of the image's shorter side are local:
# the plan adds the local objective.
LOCAL_DEFECT_FRACTION = 0.15
# The share of the budget pretraining gets; the downstream model and its evaluation the rest.
# A classify plan gives FixMatch the other half: its steps lifted NEU-DET more than
# pretraining minutes did (docs/benchmarks.md, sessions 31 and 32).
PRETRAIN_SHARE: dict[str, float] = {"classify": 0.5, "anomaly": 0.8, "detect": 0.5,
                                    "segment": 0.5}
# A small data set is seen at most this many times: past it, more steps memorize images.
MAX_EPOCHS = 400
# A good-only anomaly plan's local objective stops after this many views (150 steps of 64):
# trained longer, it lowered PatchCore's image AUROC on both data sets measured
# (docs/benchmarks.md section 8, session 24).
ANOMALY_VIEWS = 150 * 64
ANOMALY_STEPS_WHY = (
    "the local objective trained longer lowered good-only anomaly AUROC: on generated "
    "parts 0.71 after 150 steps of 64 views against 0.59 after 900 (two pretraining "
    "seeds), on KolektorSDD 0.83 against 0.76 after 1,348 (one seed); so the run stops "
    "after the 9,600 views measured best and leaves the rest of the budget unspent")
MEMORY_SIZE = 4096
# Detector images per second (Faster R-CNN, ResNet-18 FPN, ~512 px), for its step count.
DETECTOR_THROUGHPUT: dict[str, float] = {"cpu": 1.5, "cuda": 40.0}
FEW_DETECTOR_STEPS = 50  # below this a plan says the detector will learn little
# Why a good-only anomaly plan trains the local objective alone (docs/benchmarks.md section
# 8, session 23).
GLOBAL_OFF_WHY = (
    "the global objective (telling each image from every other) lowered good-only anomaly "
    "AUROC: with the local objective alone it rose at equal steps from 0.52 to 0.75 on "
    "generated parts (means of four pretraining seeds) and from 0.73 to 0.83 on "
    "KolektorSDD; a likely cause is that features which tell parts apart make every part "
    "PatchCore has not seen look a little anomalous")

# Why a classify plan cuts its views as fractions of the image (docs/benchmarks.md section 8,
# session 30).
CLASSIFY_CROP_WHY = (
    "a classifier reads each whole image resized to {size} px, so the views are cut at the "
    "scale it reads; native-resolution crops taught features at another scale (NEU-DET at "
    "10 labels per class, linear probe at equal minutes: 0.729 with native crops, 0.758 with "
    "these, means of two seeds)")

LABELS_ALONE_BESIDE_PROBE_WHY = (
    "The labels alone train {steps} steps beside it (the same network from random init) and "
    "hatchery run delivers the better of the two on the held-out parts: on small local "
    "defects a probe on pooled features stays at chance while the labels alone learn them "
    "(generated parts at 10 labels per class: 0.21-0.29 against 0.44-0.77 balanced "
    "accuracy, docs/benchmarks.md session 34), while on whole-image textures the probe can "
    "win (NEU-DET at 5 labels per class, 300 steps: 0.649 against 0.589)")

FIT_NORMALIZATION_WHY = (
    "the random-init network measured beside the model gets its BatchNorm statistics fitted "
    "to the good parts, which raised its anomaly AUROC from 0.71 to 0.79 on generated parts "
    "(four seeds) and from 0.79 to 0.83 on KolektorSDD (two); the pretrained backbone keeps "
    "the statistics it learned with, as refitting them lowered its image AUROC (0.75 to "
    "0.65; KolektorSDD 0.83 to 0.79)")


@dataclass(frozen=True)
class Reason:
    choice: str
    value: Any
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"choice": self.choice, "value": self.value, "why": self.why}


@dataclass
class Plan:
    task: Task
    device: PlanDevice
    budget_minutes: float
    pretrain: PretrainConfig
    finetune: dict[str, Any]
    estimate: dict[str, float]
    reasons: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """plan.yaml's content: valid configs for pretrain and the downstream command."""
        return {"task": self.task, "device": self.device,
                "budget_minutes": self.budget_minutes,
                "pretrain": self.pretrain.model_dump(mode="json"),
                "finetune": self.finetune, "estimate": self.estimate,
                "reasons": [reason.as_dict() for reason in self.reasons]}

    def text(self) -> str:
        lines = [f"plan for {self.task} on {self.device}, {self.budget_minutes:g} minutes:"]
        lines += [f"- {r.choice} = {r.value}: {r.why}" for r in self.reasons]
        estimate = self.estimate
        lines.append(f"estimated: pretraining {estimate['pretrain_minutes']:.1f} min, then "
                     f"{estimate['finetune_minutes']:.1f} min for the {self.task} model "
                     f"({estimate['total_minutes']:.1f} min in all"
                     + (f", {estimate['gpu_hours']:.2f} GPU-hours)" if self.device == "cuda"
                        else ")"))
        return "\n".join(lines)


@dataclass(frozen=True)
class _Facts:
    """What the plan reads off the analysis."""

    images: int
    short_side: int  # median shorter side of the images, native pixels
    gray: bool
    rotation_invariant: bool
    axis_aligned: bool
    defect_px: float | None  # 10th percentile of the defects' shorter sides, if labeled
    defect_fraction: float | None  # median shorter side / image shorter side, if labeled
    lighting_spread: float
    images_in_shot_groups: int  # images that share their part with another image

    @staticmethod
    def of(analysis: dict[str, Any]) -> _Facts:
        resolution = analysis["resolution"]
        short_side = int(min(resolution["width"]["median"], resolution["height"]["median"]))
        sizes = (analysis.get("labels") or {}).get("defect_sizes")
        orientation = analysis.get("orientation") or {}
        return _Facts(
            images=int(analysis["images"]), short_side=short_side,
            gray=bool(analysis["color"]["gray_content"]),
            rotation_invariant=bool(orientation.get("rotation_invariant", False)),
            axis_aligned=bool(orientation.get("axis_aligned", True)),
            defect_px=None if not sizes else float(sizes["short_side_px"]["p10"]),
            defect_fraction=None if not sizes else
            float(sizes["short_side_px"]["median"]) / max(1, short_side),
            lighting_spread=float(analysis["intensity"]["spread_of_image_means"]),
            images_in_shot_groups=int((analysis.get("groups") or {}).get("images_in_them", 0)))


def make_plan(analysis: dict[str, Any], task: Task, budget_minutes: float = 20.0,
              device: PlanDevice = "cpu", throughput: float | None = None,
              data_path: str = ".") -> Plan:
    """The recipe for ``task`` on the data ``analysis`` describes (``DataReport.as_dict()``),
    within ``budget_minutes`` on ``device``. ``throughput``: pretraining images per second
    measured on this device at 64 px (None: the nominal figure of ``NOMINAL_THROUGHPUT``)."""
    facts = _Facts.of(analysis)
    reasons: list[Reason] = []
    say = reasons.append

    image_size = min(BASE_IMAGE_SIZE[device], _multiple_of_16(facts.short_side))
    say(Reason("data.image_size", image_size,
               f"{'a CPU' if device == 'cpu' else 'a GPU'} affords {BASE_IMAGE_SIZE[device]} "
               "px views within the budget" + (
                   f"; the images are only {facts.short_side} px"
                   if image_size < BASE_IMAGE_SIZE[device] else "")))
    say(Reason("backbone", "resnet18, standard stem",
               "the 3x3 small-input stem costs about 8 times the compute per image for the "
               "same views; ResNet-18 is what PatchCore, the probes and the detectors read"))

    defect_px = facts.defect_px if facts.defect_px is not None else ASSUMED_DEFECT_PX
    local = facts.defect_fraction is None or facts.defect_fraction < LOCAL_DEFECT_FRACTION
    crop = _crop(task, facts, image_size, defect_px, say)
    dense_weight = 1.0 if local else 0.0
    dense_stage = _dense_stage(image_size)
    if local:
        where = ("no defect sizes are known, so the plan assumes small ones" if
                 facts.defect_fraction is None else
                 f"defects are small: {facts.defect_fraction:.0%} of the image's shorter side")
        say(Reason("loss.dense_weight", dense_weight,
                   f"{where}; a global objective on whole-part crops learns the lighting and "
                   "the outline, so a local objective (the same image point seen in two "
                   f"views gets the same feature) trains stage {dense_stage}, whose map is "
                   f"{image_size // (4 * 2 ** (dense_stage - 1))} cells across (measured: "
                   "+7.8 points of anomaly AUROC over the global objective alone on "
                   "generated parts)"))
    else:
        say(Reason("loss.dense_weight", 0.0,
                   f"defects are large ({facts.defect_fraction:.0%} of the image's shorter "
                   "side): the global objective sees them; a local one would cost time"))

    global_weight = _global_weight(task, local, say)

    if task == "anomaly":
        say(Reason("loss.defect_weight", 0.0,
                   "painted defects (--defect-weight) taught generated parts' pits and "
                   "scratches (anomaly AUROC 0.71 -> 0.97 on this recipe, means of the same "
                   "two seeds) but not KolektorSDD's real cracks (0.83 -> 0.81, one seed; "
                   "a random-init network scores 0.83): they would teach the look of the "
                   "painting, so the plan leaves them off"))

    say(Reason("augment.local_crops.count", 0,
               "local crops (multi-crop, --local-crops) cost 1.6x the time of a step on "
               "this recipe and lowered good-only anomaly AUROC at equal steps (generated "
               "parts 0.609 -> 0.547, KolektorSDD 0.767 -> 0.677), so the plan leaves "
               "them off"))

    views = _views(facts, image_size, say)
    augment = {"crop": crop, **_geometry(facts, say), "view1": views[0], "view2": views[1]}
    _say_other_shots(facts, say)
    _say_view_overlap(say)

    batch = _batch(facts.images, device)
    say(Reason("batch_size", batch, f"{BATCH_SIZE[device]} fits {device} memory"
               + (f", capped by the {facts.images} images" if batch < BATCH_SIZE[device]
                  else "")))
    memory = max(batch, min(MEMORY_SIZE, facts.images - facts.images % batch))
    say(Reason("memory.size", memory,
               "negatives never outnumber the images (a key would meet itself)"
               if memory < MEMORY_SIZE else f"{MEMORY_SIZE} negatives, the MoBY recipe"))
    say(Reason("memory.exclude_own_keys", False,
               "the memory holds keys of nearly every image, so a query meets stale keys of "
               "its own image as negatives; leaving them out (memory.exclude_own_keys) "
               "showed no consistent effect on good-only anomaly AUROC at equal steps "
               "(generated parts 0.609 -> 0.554 with one pretraining seed, 0.536 -> 0.609 "
               "with another; KolektorSDD 0.767 -> 0.739), so the published recipe stays"))

    measured = throughput is not None
    plain_speed = (throughput if measured else NOMINAL_THROUGHPUT[device]) \
        * (REFERENCE_SIZE / image_size) ** 2  # images/s without the local objective
    speed = plain_speed / (DENSE_COST if local else 1.0)
    pretrain_minutes = budget_minutes * PRETRAIN_SHARE[task]
    steps = max(1, int(pretrain_minutes * 60 * speed / batch))
    epochs_cap = max(1, MAX_EPOCHS * facts.images // batch)
    local_only_cap = max(1, ANOMALY_VIEWS // batch) if global_weight == 0 else None
    if local_only_cap is not None and local_only_cap < min(steps, epochs_cap):
        say(Reason("steps", local_only_cap, ANOMALY_STEPS_WHY))
        steps = local_only_cap
    elif steps > epochs_cap:
        say(Reason("steps", epochs_cap,
                   f"{facts.images} images: {MAX_EPOCHS} passes over them are enough; more "
                   "steps would memorize the images, so the run ends early"))
        steps = epochs_cap
    else:
        say(Reason("steps", steps,
                   f"{PRETRAIN_SHARE[task]:.0%} of the budget at "
                   f"{'the measured' if measured else 'the nominal'} {speed:.0f} images/s "
                   f"for this recipe on the {'CPU' if device == 'cpu' else 'GPU'}"))

    pretrain = resolve_pretrain_config(PretrainConfig.model_validate({
        "method": "hatchery",
        "data": {"path": data_path, "image_size": image_size, "channels": 1 if facts.gray
                 else 3},
        "backbone": {"name": "resnet18", "small_input": False},
        "loss": {"dense_weight": dense_weight, "dense_stage": dense_stage,
                 "global_weight": global_weight},
        "memory": {"size": memory}, "augment": augment, "batch_size": batch, "steps": steps,
        "runtime": {"device": device},
    }), dataset_size=facts.images, device_type=device)
    if global_weight:
        say(Reason("method", "hatchery",
                   "MoBY with a ReLIC invariance term, a priority memory of hard negatives "
                   "and an EMA target: the engine's default, measured in docs/benchmarks.md"))
    else:
        say(Reason("method", "hatchery",
                   "its EMA target trains the local objective; its global terms (MoBY's "
                   "InfoNCE, ReLIC, the priority memory) weigh nothing here, see "
                   "loss.global_weight"))

    finetune, finetune_minutes = _finetune(task, facts, device,
                                           budget_minutes - pretrain_minutes, say,
                                           plain_speed * FIXMATCH_SPEED_RATIO)
    pretrain_real = steps * batch / speed / 60
    total = pretrain_real + finetune_minutes
    estimate = {"pretrain_minutes": round(pretrain_real, 2),
                "finetune_minutes": round(finetune_minutes, 2),
                "total_minutes": round(total, 2),
                "images_per_second": round(speed, 1),
                "gpu_hours": round(total / 60, 3) if device == "cuda" else 0.0}
    return Plan(task, device, budget_minutes, pretrain, finetune, estimate, reasons)


def _multiple_of_16(side: int) -> int:
    return max(32, side // 16 * 16)


def _crop(task: Task, facts: _Facts, image_size: int, defect_px: float, say
          ) -> dict[str, Any]:
    """Crop sides in native pixels so the smallest defects stay ``MIN_DEFECT_NETWORK_PX``
    across in the view; fractions of the image when even the whole image keeps them so, or
    when a classifier reads whole images (it sees them at that scale, whatever the defects)."""
    largest = image_size * defect_px / MIN_DEFECT_NETWORK_PX
    known = "labeled" if facts.defect_px is not None else "assumed"
    if task == "classify" or largest >= facts.short_side:
        why = (CLASSIFY_CROP_WHY.format(size=image_size) if task == "classify" else
               f"even the whole image resized to {image_size} px keeps the {known} "
               f"smallest defects ({defect_px:g} px) {MIN_DEFECT_NETWORK_PX:g} px across")
        say(Reason("augment.crop", "20-100% of the image", why))
        return {"unit": "fraction", "scale": [0.2, 1.0]}
    high = max(float(image_size), largest)
    low = max(image_size * 0.75, high / 2)
    if largest < image_size:
        why = (f"the {known} smallest defects are {defect_px:g} px, under "
               f"{MIN_DEFECT_NETWORK_PX:g} px even at native resolution: views are cut at "
               "about native resolution, never shrunk (enlarging them would only slow "
               "every later model down)")
    else:
        why = (f"the {known} smallest defects are {defect_px:g} px: a crop wider than "
               f"{largest:.0f} px would shrink them under {MIN_DEFECT_NETWORK_PX:g} px in a "
               f"{image_size} px view; crops are cut at native resolution")
    say(Reason("augment.crop", f"{low:.0f}-{high:.0f} native px", why))
    return {"unit": "pixels", "scale": [round(low, 1), round(high, 1)]}


def _global_weight(task: Task, local: bool, say) -> float:
    """The global objective's weight: off where good-only anomaly detection reads the local
    objective's features, on everywhere else."""
    if task == "anomaly" and local:
        say(Reason("loss.global_weight", 0.0, GLOBAL_OFF_WHY))
        return 0.0
    why = ("the local objective is off, so the global one is what learns" if not local else
           f"a {task} model reads whole-image or region features, which the global objective "
           "trains; it was left out only where it was measured to hurt (good-only anomaly "
           "detection)")
    say(Reason("loss.global_weight", 1.0, why))
    return 1.0


def _dense_stage(image_size: int) -> int:
    """The deepest ResNet stage (at most 3) whose map is >= 8 cells across (standard stem:
    stage k has stride 4 * 2^(k-1))."""
    stage = 1
    while stage < 3 and image_size // (4 * 2 ** stage) >= 8:
        stage += 1
    return stage


def _views(facts: _Facts, image_size: int, say) -> tuple[dict, dict]:
    views = byol_views(image_size)
    if not facts.gray:
        say(Reason("augment.color", "BYOL's color jitter",
                   "color images: hue and saturation jitter teach that color casts are no "
                   "defect"))
        return tuple(view.model_dump() for view in views)  # type: ignore[return-value]
    say(Reason("augment.color", "brightness and contrast only",
               "gray images: no hue, saturation or grayscale conversion (they would change "
               "nothing but the cost)"))
    gray = {"saturation": 0.0, "hue": 0.0, "grayscale_prob": 0.0}
    return tuple(ViewAugmentConfig(**{**view.model_dump(), **gray}).model_dump()
                 for view in views)  # type: ignore[return-value]


def _geometry(facts: _Facts, say) -> dict[str, Any]:
    if facts.rotation_invariant:
        say(Reason("augment.rotations", "flips and quarter turns",
                   "the texture has no preferred direction (or every direction occurs): a "
                   "turned part is still a part of this line"))
        return {"hflip_prob": 0.5, "vflip_prob": 0.5, "rotate90": True}
    if facts.axis_aligned:
        say(Reason("augment.rotations", "flips only",
                   "the texture runs along an image axis: flips keep its direction, quarter "
                   "turns would show parts this line never makes"))
        return {"hflip_prob": 0.5, "vflip_prob": 0.5, "rotate90": False}
    say(Reason("augment.rotations", "none",
               "the texture runs at a slant: a flip or a turn would change its direction"))
    return {"hflip_prob": 0.0, "vflip_prob": 0.0, "rotate90": False}


def _say_other_shots(facts: _Facts, say) -> None:
    """Why both views come from one shot, also where the data has several of one part."""
    if not facts.images_in_shot_groups:
        say(Reason("augment.other_shot_prob", 0.0,
                   "no image shares its part with another: both views come from one shot"))
        return
    say(Reason("augment.other_shot_prob", 0.0,
               f"{facts.images_in_shot_groups} images are shots of a part another image shows "
               "too, but cutting view 2 from another shot of the part (--other-shot-prob) "
               "lowered good-only anomaly AUROC on generated parts shot under three "
               "lightings at equal steps (0.609 -> 0.444 and 0.536 -> 0.423 with two "
               "pretraining seeds), so both views come from one shot"))


def _say_view_overlap(say) -> None:
    say(Reason("augment.view_overlap", "off",
               "placing view 2 on view 1 (--view-overlap 0.5) moved good-only anomaly AUROC "
               "on generated parts within the pretraining seed's noise (0.52 -> 0.58 with "
               "the global objective, means of four seeds; 0.71 -> 0.72 without it, means "
               "of two): the views are cut independently"))


def _batch(images: int, device: str) -> int:
    """The device's batch, or the largest power of two the data set fills (>= 4)."""
    largest = 2 ** int(math.log2(max(4, images)))
    return min(BATCH_SIZE[device], largest)


def _classify_settings(device: str, minutes: float, fixmatch_speed: float, say
                       ) -> tuple[dict[str, Any], float]:
    """FixMatch for as many steps as fit in ``minutes`` (at most its default) beside the
    labels alone trained as many steps (the baseline it is delivered against), or, when too
    few FixMatch steps fit, a linear probe beside the labels alone for as many steps as fit;
    the settings and their estimated minutes."""
    default = ClassifySettings(device=device)
    # a FixMatch step: a labeled batch, weak and strong views of mu unlabeled ones; the
    # labels alone: one labeled batch
    views_per_step = default.batch_size * (1 + 2 * default.unlabeled_ratio) \
        + default.batch_size
    views = minutes * 60 * fixmatch_speed  # the views that fit in the minutes left
    fitting = int(views / views_per_step)
    if fitting < FEW_FIXMATCH_STEPS:
        alone_steps = max(1, min(default.steps, int(views / default.batch_size)))
        say(Reason("finetune.method", "linear",
                   f"FixMatch would fit only {fitting} steps in the {minutes:.1f} minutes "
                   "left: a linear probe on frozen features takes seconds. "
                   + LABELS_ALONE_BESIDE_PROBE_WHY.format(steps=alone_steps)))
        settings = ClassifySettings(method="linear", steps=alone_steps, device=device)
        return settings.model_dump(mode="json"), \
            alone_steps * default.batch_size / fixmatch_speed / 60
    steps = min(default.steps, fitting)
    say(Reason("finetune.method", "fixmatch",
               "FixMatch learns from the unlabeled images too, starting from a linear "
               "probe's head (LP-FT); the labels alone train as many steps beside it, and "
               "hatchery run delivers the better of the two on the held-out parts"))
    say(Reason("finetune.steps", steps,
               f"{default.steps} steps measured best on NEU-DET (0.85 balanced accuracy at "
               "10 labels per class against 0.79 after 300)" + (
                   "" if steps == default.steps else
                   f"; {steps} fit in the {minutes:.1f} minutes left at about "
                   f"{fixmatch_speed:.0f} views/s")))
    settings = ClassifySettings(method="fixmatch", steps=steps, device=device)
    return settings.model_dump(mode="json"), steps * views_per_step / fixmatch_speed / 60


def _finetune(task: Task, facts: _Facts, device: str, minutes: float, say,
              fixmatch_speed: float) -> tuple[dict[str, Any], float]:
    """The downstream settings and their estimated minutes; ``fixmatch_speed``: FixMatch's
    views per second at the plan's input size."""
    if task == "anomaly":
        even = facts.lighting_spread > 0.03
        settings = AnomalySettings(even_lighting=even, device=device)
        say(Reason("finetune.even_lighting", even,
                   f"image brightness varies by {facts.lighting_spread:.2f}: "
                   + ("each image is standardized by its own gray levels, so a darker "
                      "lighting is no anomaly" if even else "lighting is steady")))
        say(Reason("finetune.fit_normalization", "random-init backbones only",
                   FIT_NORMALIZATION_WHY))
        return settings.model_dump(mode="json"), min(minutes, 2.0)
    if task == "classify":
        return _classify_settings(device, minutes, fixmatch_speed, say)
    image_side = min(facts.short_side, 512 if device == "cpu" else 1024)
    # half the rest: the same detector on a random-init backbone, as many steps, is the
    # baseline `hatchery run` reports beside it
    steps = max(1, int(minutes / 2 * 60 * DETECTOR_THROUGHPUT[device] / 4))
    settings = DetectSettings(image_size=max(32, image_side), steps=steps, device=device)
    say(Reason("finetune.steps", steps,
               f"half the rest of the budget at about {DETECTOR_THROUGHPUT[device]:g} "
               f"images/s for a detector at {image_side} px; the other half trains the same "
               "detector on a random-init backbone, the baseline it is reported beside"
               + ("; too few steps for a detector to learn much: give it more minutes"
                  if steps < FEW_DETECTOR_STEPS else "")))
    return settings.model_dump(mode="json"), minutes
