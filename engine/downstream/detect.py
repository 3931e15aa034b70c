"""Object detection and instance segmentation, supervised or semi-supervised.
``hatchery finetune detect|segment`` calls ``train_detector``; ``load_detector`` and
``predict_objects`` (engine/downstream/detection_model.py) read the model directory back.

Faster R-CNN or Mask R-CNN with an FPN on the backbone (detection_model.py) learns from the
annotated images (a random horizontal flip), SGD with momentum, a linear warm-up and a
cosine decay. With unlabeled images it is Unbiased Teacher (Liu et al. 2021):

1. burn-in: the first ``burn_in`` share of the steps learns from the labels alone;
2. the teacher starts as a copy of the student and follows it as an EMA (its BatchNorm
   statistics too: it only ever runs in eval mode), at decay ``ema`` or lower on a short
   run (``teacher_decay``): the teacher is the model kept, and on a run of a few hundred
   steps a decay of 0.999 would keep it mostly the burn-in copy;
3. each later step, the teacher detects objects on weakly augmented (flipped) unlabeled
   images; those scoring >= ``confidence`` are pseudo-labels (their masks, for segment) for
   the student on a strong view of the same images (photometric changes, cut-outs). Only the
   classification losses (RPN objectness, RoI class) learn from them — a pseudo-box's score
   says nothing of how well it fits — plus the mask loss of a segment model; they are
   weighted by ``unlabeled_weight``.

The model kept is the teacher when there is one, else the student. It is measured on the
val annotations with COCO mAP (detection_metrics.py) and written as a model directory.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from engine.data.annotations import AnnotationError, AnnotationSet, read_annotations
from engine.data.dataset import DecodedImageDataset, channel_statistics
from engine.data.decode import decode_image
from engine.data.folder import DataFolderError, ImageFormat, probe_format, scan_image_folder
from engine.distributed import resolve_device
from engine.downstream.backbone_source import load_backbone
from engine.downstream.detection_metrics import DetectionScore
from engine.downstream.detection_model import MASK_THRESHOLD, build_detector
from engine.downstream.detection_views import Target, hflip, strong_view, target_of
from engine.downstream.model_dir import (
    PARITY_SAMPLE,
    ModelCard,
    Preprocessing,
    fingerprint,
    save_model,
)
from engine.errors import HatcheryInputError
from engine.schemas.detect import DetectConfig
from engine.train.progress import StageProgress

# the losses an unlabeled image's pseudo-labels train (Unbiased Teacher), by model
UNSUPERVISED_LOSSES = ("loss_objectness", "loss_classifier", "loss_mask")
GRADIENT_CLIP = 10.0
WARMUP_START = 0.001  # the learning rate's first factor, rising linearly to 1
# by the last step the burn-in copy weighs at most e^-TEACHER_FORGETS in the teacher
TEACHER_FORGETS = 5.0
MAX_ASPECT = 4.0  # the longer side may be at most this many times the shorter


class Teacher:
    """An EMA of the student (parameters and buffers alike), always in eval mode."""

    def __init__(self, student: nn.Module) -> None:
        self.model = copy.deepcopy(student).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, student: nn.Module, decay: float) -> None:
        for ours, theirs in zip(self.model.state_dict().values(),
                                student.state_dict().values(), strict=True):
            if ours.dtype.is_floating_point:
                ours.lerp_(theirs, 1 - decay)
            else:
                ours.copy_(theirs)

    @torch.no_grad()
    def pseudo_labels(self, images: list[torch.Tensor], confidence: float, masks: bool
                      ) -> list[Target]:
        """Its detections scoring >= ``confidence`` on ``images``, as training targets. The
        others are dropped before the mask head (no full-size masks pasted for nothing)."""
        heads = self.model.roi_heads
        usual, heads.score_thresh = heads.score_thresh, max(heads.score_thresh, confidence)
        try:
            found_all = self.model(images)
        finally:
            heads.score_thresh = usual
        targets = []
        for found in found_all:
            keep = found["scores"] >= confidence
            target = {"boxes": found["boxes"][keep], "labels": found["labels"][keep]}
            if masks:
                target["masks"] = (found["masks"][keep, 0] >= MASK_THRESHOLD).to(torch.uint8)
            targets.append(target)
        return targets


class Batches:
    """Training batches: annotated images (flipped at random) with their targets, and weak
    and strong views of unlabeled images; drawn with replacement from a seeded generator."""

    def __init__(self, labeled: DecodedImageDataset, annotations: AnnotationSet, masks: bool,
                 unlabeled: DecodedImageDataset | None, seed: int, device: torch.device
                 ) -> None:
        self.labeled, self.annotations, self.masks = labeled, annotations, masks
        self.unlabeled = unlabeled
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device

    def _flipped(self, image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
        image = image.float().div_(255)
        if float(torch.rand((), generator=self.generator)) < 0.5:
            image, target = hflip(image, target)
        return image, target

    def _to_device(self, images: list[torch.Tensor], targets: list[Target]
                   ) -> tuple[list[torch.Tensor], list[Target]]:
        return ([image.to(self.device) for image in images],
                [{key: value.to(self.device) for key, value in target.items()}
                 for target in targets])

    def labeled_batch(self, size: int) -> tuple[list[torch.Tensor], list[Target]]:
        images, targets = [], []
        for index in torch.randint(len(self.labeled), (size,), generator=self.generator):
            image, target = self._flipped(self.labeled.image(int(index)),
                                          target_of(self.annotations.images[int(index)],
                                                    self.masks))
            images.append(image)
            targets.append(target)
        return self._to_device(images, targets)

    def unlabeled_batch(self, size: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Weak views (flipped) and strong views of the same images, with one geometry."""
        assert self.unlabeled is not None
        weak, strong = [], []
        empty: Target = {"boxes": torch.zeros(0, 4)}
        for index in torch.randint(len(self.unlabeled), (size,), generator=self.generator):
            image, _ = self._flipped(self.unlabeled.image(int(index)), empty)
            weak.append(image.to(self.device))
            strong.append(strong_view(image, self.generator).to(self.device))
        return weak, strong


def learning_rate(config: DetectConfig, step: int) -> float:
    """Linear warm-up from ``WARMUP_START`` of the rate, then a half cosine to zero."""
    warmup = min(config.warmup_steps, config.steps // 5)
    if step < warmup:
        return config.learning_rate * (WARMUP_START + (1 - WARMUP_START) * step / warmup)
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def teacher_decay(config: DetectConfig, teacher_steps: int) -> float:
    """The teacher's EMA decay over ``teacher_steps`` updates: ``config.ema``, lowered so
    that the copy it starts from weighs at most e^-``TEACHER_FORGETS`` at the end
    ((1 - x/n)^n < e^-x). Unbiased Teacher's 0.9996 was set for 180,000 steps."""
    return min(config.ema, max(0.0, 1 - TEACHER_FORGETS / max(1, teacher_steps)))


def _train(model: GeneralizedRCNN, config: DetectConfig, batches: Batches,
           progress: StageProgress) -> tuple[nn.Module, dict[str, float]]:
    """The kept model (teacher or student, eval mode) and the last step's losses."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=config.learning_rate, momentum=0.9,
                                weight_decay=config.weight_decay)
    semi = batches.unlabeled is not None
    burn_in = round(config.burn_in * config.steps) if semi else config.steps
    teacher: Teacher | None = None
    decay = teacher_decay(config, config.steps - burn_in)
    masks = config.task == "segment"
    last: dict[str, float] = {}
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        model.train()
        losses = model(*batches.labeled_batch(config.batch_size))
        loss = sum(losses.values())
        last = {key: float(value.detach()) for key, value in losses.items()}
        if semi and step >= burn_in:
            teacher = teacher or Teacher(model)
            weak, strong = batches.unlabeled_batch(config.unlabeled_batch_size)
            pseudo = teacher.pseudo_labels(weak, config.confidence, masks)
            unsupervised = model(strong, pseudo)
            unlabeled_loss = sum(unsupervised[key] for key in UNSUPERVISED_LOSSES
                                 if key in unsupervised)
            loss = loss + config.unlabeled_weight * unlabeled_loss
            last["unlabeled"] = float(unlabeled_loss.detach())
            last["pseudo_boxes"] = sum(len(t["boxes"]) for t in pseudo) / len(pseudo)
        if not torch.isfinite(loss):
            raise HatcheryInputError(f"detection training diverged at step {step + 1} (loss "
                                     f"{float(loss)}): lower learning_rate or give more "
                                     "warmup_steps")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, GRADIENT_CLIP)
        optimizer.step()
        if teacher is not None:
            teacher.update(model, decay)
        progress("train", step + 1, config.steps)
    return (teacher.model if teacher is not None else model.eval()), last


@torch.no_grad()
def evaluate(model: nn.Module, annotations: AnnotationSet, image_format: ImageFormat,
             masks: bool, device: torch.device, batch_size: int = 4,
             progress: StageProgress | None = None) -> dict[str, Any]:
    """COCO mAP of ``model`` (eval mode) on every image of ``annotations``."""
    model.eval()
    score = DetectionScore(annotations.class_names, masks)
    dataset = DecodedImageDataset([image.path for image in annotations.images],
                                  image_format.channels, image_format.bit_depth)
    total = len(annotations.images)
    for start in range(0, total, batch_size):
        chosen = range(start, min(total, start + batch_size))
        images = [dataset.image(index).to(device).float().div_(255) for index in chosen]
        predictions = []
        for found in model(images):
            prediction = {"boxes": found["boxes"], "scores": found["scores"],
                          "labels": found["labels"] - 1}
            if masks:
                prediction["masks"] = found["masks"][:, 0] >= MASK_THRESHOLD
            predictions.append(prediction)
        targets = []
        for index in chosen:
            target = target_of(annotations.images[index], masks)
            target["labels"] = target["labels"] - 1
            if masks:
                target["masks"] = target["masks"].bool()
            targets.append(target)
        score.update(predictions, targets)
        if progress is not None:
            progress("val", chosen.stop, total)
    return score.compute()


def input_size(annotations: AnnotationSet, image_size: int | None) -> tuple[int, int]:
    """(shorter side, longest longer side) of the network input: ``image_size`` (or the
    typical shorter side of the images), and room for their widest aspect ratio."""
    shorter = image_size or int(statistics.median(min(image.height, image.width)
                                                  for image in annotations.images))
    aspect = max(max(image.height, image.width) / min(image.height, image.width)
                 for image in annotations.images)
    return shorter, math.ceil(shorter * min(aspect, MAX_ASPECT))


def _annotations(config: DetectConfig) -> tuple[AnnotationSet, AnnotationSet]:
    train = read_annotations(config.train, config.annotation_format)
    if train.objects == 0:
        raise AnnotationError(f"{config.train}: the training annotations hold no object")
    val = read_annotations(config.val, config.annotation_format, train.class_names)
    if config.task == "segment":
        train.require_outlines(config.train)
        val.require_outlines(config.val)
    return train, val


def parity_sample(val: AnnotationSet, image_format: ImageFormat) -> torch.Tensor:
    """uint8 [C, H, W]: the first validation image that holds an object (else the first),
    kept in the model directory so ``export`` measures its parity on an image of the line,
    where the detector finds boxes, not on noise where it may find none."""
    chosen = next((image for image in val.images if len(image.labels)), val.images[0])
    return decode_image(chosen.path, image_format.channels, image_format.bit_depth)


def _decoded(paths: list[Path], image_format: ImageFormat, what: str) -> DecodedImageDataset:
    dataset = DecodedImageDataset(paths, image_format.channels, image_format.bit_depth,
                                  cache=True)
    if dataset.skipped:
        path, reason = dataset.skipped[0]
        raise DataFolderError(f"{what} image {path} cannot be decoded: {reason}")
    return dataset


def train_detector(config: DetectConfig, out: str | Path,
                   progress: StageProgress | None = None) -> dict[str, Any]:
    """Train the detector (or instance segmenter) ``config`` asks for, measure it on
    ``config.val``, write the model directory to ``out``; returns the report."""
    progress = progress or (lambda stage, done, total: None)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    masks = config.task == "segment"
    train, val = _annotations(config)
    paths = [image.path for image in train.images]
    probed = probe_format(paths, seed=config.seed)
    sourced = load_backbone(config.backbone, probed.channels, device)
    image_format = sourced.image_format or probed
    labeled = _decoded(paths, image_format, "annotated")
    mean, std = (sourced.mean, sourced.std) if sourced.mean is not None else \
        channel_statistics(labeled, seed=config.seed)
    min_size, max_size = input_size(train, config.image_size)
    model = build_detector(sourced.backbone, len(train.class_names), masks, mean, std,
                           min_size, max_size, config.norm, config.rois_per_image,
                           config.max_detections, config.proposals).to(device)

    unlabeled = None
    if config.unlabeled is not None:
        scan = scan_image_folder(config.unlabeled)
        if not scan.paths:
            raise DataFolderError(f"unlabeled folder {config.unlabeled} holds no readable "
                                  "image")
        unlabeled = _decoded(scan.paths, image_format, "unlabeled")
    batches = Batches(labeled, train, masks, unlabeled, config.seed, device)
    kept, losses = _train(model, config, batches, progress)
    metrics = evaluate(kept, val, image_format, masks, device, config.batch_size, progress)

    sources = paths + train.sources
    card = ModelCard(
        task=config.task,
        preprocessing=Preprocessing(image_format.channels, image_format.bit_depth,
                                    list(mean), list(std), image_size=min_size),
        backbone=sourced.recipe,
        data_fingerprint=fingerprint(sources, Path(os.path.commonpath(sources))),
        metrics=metrics, class_names=train.class_names, threshold=config.score_threshold,
        settings={"max_size": max_size, "norm": config.norm,
                  "max_detections": config.max_detections, "proposals": config.proposals,
                  "method": "semi-supervised" if unlabeled is not None else "supervised",
                  "pretrained": sourced.pretrained, "annotation_format": train.format,
                  "labeled_images": len(train.images), "labeled_objects": train.objects,
                  "unlabeled_images": len(unlabeled) if unlabeled is not None else 0,
                  "steps": config.steps})
    weights: dict[str, Any] = {"model": kept.state_dict()}
    if val.images:
        weights[PARITY_SAMPLE] = parity_sample(val, image_format)
    save_model(out, card, weights)
    return {"task": config.task, "out": str(out), "method": card.settings["method"],
            "classes": train.class_names, "image_size": [min_size, max_size],
            "final_losses": losses, "metrics": metrics}
