"""Whether a job can run, decided before it runs: its config against the data it will read.

The trainer checks its resolved config against the images it found (``check_pretrain``);
the API runs the same checks at submit against the dataset versions' statistics
(``check_job``), so a config that cannot run is a 422 naming the field, never a failure in
a worker minutes later. Torch-free.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from engine.errors import JobConfigError
from engine.schemas.backbones import TRANSFORMER_BACKBONES
from engine.schemas.downstream_jobs import FinetuneJobConfig
from engine.schemas.kinds import KINDS, VERSION_SCHEME, ValidatedJob
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config

ONE_WAY_METHODS = ("moby", "hatchery")


@dataclass(frozen=True)
class DataFacts:
    """What the checks need to know of one data set: a dataset version or a folder."""

    name: str  # how messages call it: "dataset version <id>", "folder parts/"
    images: int
    classes: dict[str, int] = field(default_factory=dict)  # class -> labeled images
    # split ("train", "val", "test", "unassigned") -> class -> labeled images
    split_classes: dict[str, dict[str, int]] = field(default_factory=dict)
    # split -> "good" / "defect" -> images (engine.schemas.finetune.part_condition)
    split_conditions: dict[str, dict[str, int]] = field(default_factory=dict)
    # split -> images with boxes, polygons or masks
    split_annotated: dict[str, int] = field(default_factory=dict)

    @property
    def annotated(self) -> int:
        return sum(self.split_annotated.values())

    @property
    def conditions(self) -> dict[str, int]:
        """"good" / "defect" -> images, over every split."""
        return _summed(self.split_conditions, tuple(self.split_conditions))

    def split(self, name: str, splits: tuple[str, ...]) -> DataFacts:
        """The facts of the images of ``splits`` only."""
        classes = _summed(self.split_classes, splits)
        return DataFacts(f"{self.name} ({name})", sum(classes.values()), classes,
                         {split: self.split_classes.get(split, {}) for split in splits},
                         {split: self.split_conditions.get(split, {}) for split in splits},
                         {split: self.split_annotated.get(split, 0) for split in splits})


def _summed(by_split: dict[str, dict[str, int]], splits: tuple[str, ...]) -> dict[str, int]:
    total: dict[str, int] = {}
    for split in splits:
        for name, count in by_split.get(split, {}).items():
            total[name] = total.get(name, 0) + count
    return total


def check_pretrain(config: PretrainConfig, data: DataFacts, world_size: int = 1,
                   prefix: str = "") -> None:
    """Refuse a *resolved* pretrain config that cannot run on ``data``; the error names the
    field (``prefix`` + its dotted name)."""
    per_rank = data.images // world_size
    if per_rank < config.batch_size:
        ranks = f" per GPU on {world_size} GPUs" if world_size > 1 else ""
        raise JobConfigError(f"{prefix}batch_size", f"{config.batch_size} images per step is "
                             f"more than {data.name} holds ({data.images} images{ranks})")
    if config.method != "mocov3" and config.memory.size > data.images:
        raise JobConfigError(f"{prefix}memory.size", f"{config.memory.size} keys is more "
                             f"than {data.name} holds ({data.images} images)")
    if config.loss.relic_alpha and config.method not in ONE_WAY_METHODS:
        raise JobConfigError(f"{prefix}loss.relic_alpha", "ReLIC needs two predictions per "
                             f"image: use method moby or hatchery, not {config.method}")
    only_mode = config.method != "mocov2"  # MoCo v3: both directions; MoCo v2: one
    if config.method not in ONE_WAY_METHODS and config.loss.symmetric != only_mode:
        raise JobConfigError(f"{prefix}loss.symmetric", f"{str(config.loss.symmetric).lower()}"
                             f" is not an option of {config.method}: only moby and hatchery "
                             "train one direction or both")
    if config.backbone.freeze_patch_embed and config.backbone.name not in TRANSFORMER_BACKBONES:
        raise JobConfigError(f"{prefix}backbone.freeze_patch_embed", "applies to ViT "
                             f"backbones, not {config.backbone.name}")
    if config.augment.other_shot_prob and config.data.groups is None:
        raise JobConfigError(f"{prefix}augment.other_shot_prob", "needs data.groups, the "
                             "groups file that says which images are shots of one part "
                             "(hatchery analyze writes it)")
    splits = config.runtime.bn_splits
    ghost_batches = config.runtime.batchnorm_leak_fix in ("auto", "split")
    if ghost_batches and (config.batch_size % splits or config.batch_size < 2 * splits):
        raise JobConfigError(f"{prefix}batch_size", f"{config.batch_size} must be a multiple "
                             f"of runtime.bn_splits {splits} and at least {2 * splits} "
                             "(BatchNorm needs two images per ghost batch)")


def check_labeled_pair(train: DataFacts, test: DataFacts, train_field: str,
                       test_field: str) -> None:
    """A labeled train/test pair a classifier can be scored on: two classes or more in
    train, labeled test images, no test class the train set lacks."""
    if len(train.classes) < 2:
        found = f"only class {next(iter(train.classes))!r}" if train.classes else "no class labels"
        raise JobConfigError(train_field, f"{train.name} has {found}: label images of two "
                             "classes or more")
    if not test.classes:
        raise JobConfigError(test_field, f"{test.name} has no class labels")
    unknown = sorted(set(test.classes) - set(train.classes))
    if unknown:
        raise JobConfigError(test_field, f"{test.name} has classes the train data lacks: "
                             f"{', '.join(unknown)}")


def check_job(job: ValidatedJob, facts: dict[uuid.UUID, DataFacts], gpus: int) -> None:
    """Everything knowable at submit: ``facts`` holds every referenced dataset version.
    Raises ``JobConfigError`` naming the field."""
    versions = {ref.field: facts[id_] for ref, id_ in job.references
                if ref.scheme == VERSION_SCHEME}
    where = {ref.field: job.where(ref) for ref, _ in job.references}
    # (kind, section of the config it reads): a pipeline's stages each read their own
    stages = [(job.kind.name, "")] if not job.kind.stages else [
        (stage, f"{stage}.") for stage in job.kind.stages if job.config.get(stage) is not None]
    for kind, section in stages:
        config = job.config[section.rstrip(".")] if section else job.config
        if kind == "pretrain" and job.config.get("plan") == "auto":
            _check_planned_data(versions[f"{section}data.path"], f"config.{section}data.path")
        elif kind == "pretrain":
            _check_pretrain_submitted(PretrainConfig.model_validate(config), versions, where,
                                      section, gpus, distributed=KINDS[kind].distributed)
        elif kind == "evaluate":
            train, test, test_field = _train_and_test(config, versions, where, section)
            check_labeled_pair(train, test, where[f"{section}train"], test_field)
        elif kind == "finetune":
            _check_finetune_submitted(FinetuneJobConfig.model_validate(config), versions,
                                      where, section, gpus, in_pipeline=bool(job.kind.stages))


def _train_and_test(config: dict, versions: dict[str, DataFacts], where: dict[str, str],
                    section: str) -> tuple[DataFacts, DataFacts, str]:
    """(train facts, test facts, the field the test data came from): the ``test`` version,
    or without one the train version's images marked test against the rest of it."""
    train = versions[f"{section}train"]
    if config.get("test") is not None:
        return train, versions[f"{section}test"], where[f"{section}test"]
    return (train.split("images marked train or unmarked", ("train", "unassigned")),
            train.split("images marked test", ("test",)), where[f"{section}train"])


def check_anomaly_data(train: DataFacts, test: DataFacts, train_field: str,
                       test_field: str) -> None:
    """Good parts to learn from (two or more: one is held out when nothing else sets the
    threshold); test images, if labeled at all, of both good and defective parts."""
    learned_from = train.conditions.get("good", 0)
    if learned_from < 2:
        raise JobConfigError(train_field, f"{train.name} has {learned_from} images of good "
                             "parts: anomaly detection learns from good parts, mark two or "
                             "more of them good (is_defect false, or class 'good')")
    good, defective = (test.conditions.get(name, 0) for name in ("good", "defect"))
    if bool(good) != bool(defective):
        found = f"only {good} good parts" if good else f"only {defective} defective parts"
        raise JobConfigError(test_field, f"{test.name} has {found}: measuring the model and "
                             "setting its threshold needs both good and defective parts")


def _check_finetune_submitted(config: FinetuneJobConfig, versions: dict[str, DataFacts],
                              where: dict[str, str], section: str, gpus: int,
                              in_pipeline: bool) -> None:
    prefix = f"config.{section}"
    if in_pipeline and config.backbone is not None:
        raise JobConfigError(f"{prefix}backbone", "the pipeline's own pretrain is the "
                             "backbone: leave it out")
    if not in_pipeline and config.backbone is None:
        raise JobConfigError(f"{prefix}backbone", "required: a pretrain job "
                             "(inputs.checkpoint_job_id) or a random-init baseline "
                             "(backbone.architecture)")
    if gpus == 0 and config.settings.device == "cuda":
        section = "detect" if config.task == "segment" else config.task
        raise JobConfigError(f"{prefix}{section}.device", "cuda needs a GPU: ask for "
                             "gpus >= 1 or leave the device on auto")
    train, test, test_field = _train_and_test(config.model_dump(), versions, where, section)
    train_field = where[f"{section}train"]
    if config.task == "classify":
        if config.test is None and not test.classes:
            # nothing marked test: the worker holds out whole parts (worker/held_out.py)
            test = train
        check_labeled_pair(train, test, train_field, test_field)
    elif config.task == "anomaly":
        check_anomaly_data(train, test, train_field, test_field)
    else:
        for facts, where_given in ((train, train_field), (test, test_field)):
            if not facts.annotated:
                raise JobConfigError(where_given, f"{facts.name} has no image with boxes or "
                                     f"outlines: a {config.task} model learns and is measured "
                                     "on them")


# the fewest images a plan can pretrain on (its smallest batch)
PLANNED_MIN_IMAGES = 4


def _check_planned_data(data: DataFacts, field: str) -> None:
    """A planned pretraining chooses its batch and memory from the data; it needs a few
    images all the same."""
    if data.images < PLANNED_MIN_IMAGES:
        raise JobConfigError(field, f"{data.name} has {data.images} images: planning a "
                             f"pretraining needs {PLANNED_MIN_IMAGES} or more")


def _check_pretrain_submitted(config: PretrainConfig, versions: dict[str, DataFacts],
                              where: dict[str, str], section: str, gpus: int,
                              distributed: bool) -> None:
    prefix = f"config.{section}"
    if gpus == 0 and config.runtime.device == "cuda":
        raise JobConfigError(f"{prefix}runtime.device", "cuda needs a GPU: ask for gpus >= 1 "
                             "or leave the device on auto")
    if gpus == 0 and config.runtime.precision == "fp16":
        raise JobConfigError(f"{prefix}runtime.precision", "fp16 needs a GPU; use bf16, fp32 "
                             "or auto on the CPU")
    data = versions[f"{section}data.path"]
    try:
        resolved = resolve_pretrain_config(config, dataset_size=data.images,
                                           device_type="cpu" if gpus == 0 else None)
    except JobConfigError as error:
        raise error.under(prefix) from None
    check_pretrain(resolved, data, world_size=max(1, gpus) if distributed else 1,
                   prefix=prefix)
    if config.eval.train is not None:
        check_labeled_pair(versions[f"{section}eval.train"], versions[f"{section}eval.test"],
                           where[f"{section}eval.train"], where[f"{section}eval.test"])
