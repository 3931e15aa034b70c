"""Few-label classification: a linear probe, supervised training from scratch, or FixMatch
on the pretrained backbone. ``hatchery finetune classify`` calls ``train_classifier``;
``load_classifier`` reads a model directory back for predictions.

- ``linear``: logistic regression on the frozen backbone's L2-normalized features, classes
  weighted by their inverse frequency (seconds on a CPU).
- ``supervised``: a random-init backbone of the same architecture and a linear head, trained
  on the labels alone with weak augmentation — the baseline that shows what pretraining buys.
- ``fixmatch`` (Sohn et al. 2020): the pretrained backbone and a head, trained on the labels
  (class-balanced batches, weak augmentation) plus the unlabeled images: the model's
  prediction on a weak view, where confident (above its class's FlexMatch bar, which rises
  to ``confidence`` as the class is learned, ``engine.downstream.thresholds``; with
  ``thresholds`` ``fixed``, >= ``confidence``), is the target for a strong view of the same
  crop (``strong_view``), recolored and partly cut out. The weights kept are an EMA of the
  trained ones; ``pseudo_labels.json`` records what each unlabeled image was last
  confidently taken to be.

Every image is resized whole to the input size (its crop is random in training).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.backbones import Backbone
from engine.data.augment import TwoViewAugment, normalize
from engine.data.dataset import (
    DecodedImageDataset,
    PaddedBatch,
    channel_statistics,
    collate_padded,
)
from engine.data.folder import (
    DataFolderError,
    FolderScan,
    ImageFormat,
    probe_format,
    scan_image_folder,
)
from engine.distributed import resolve_device
from engine.downstream.backbone_source import SourcedBackbone, load_backbone, rebuild_backbone
from engine.downstream.evaluation import (
    MAX_PICTURES,
    ImageResult,
    one_vs_rest_curves,
    save_example,
    write_evaluation,
)
from engine.downstream.model_dir import (
    ModelCard,
    Preprocessing,
    fingerprint,
    load_card,
    load_weights,
    save_model,
)
from engine.downstream.thresholds import PseudoLabelThresholds
from engine.eval.labeled import scan_class_folders
from engine.eval.metrics import classification_metrics
from engine.schemas.finetune import BackboneSource, ClassifyConfig, StrongViewKind
from engine.schemas.pretrain import AugmentConfig, CropConfig, ViewAugmentConfig
from engine.train.progress import StageProgress

# Weak: a random crop of most of the image and flips. Strong: that, plus strong photometric
# changes and a cut-out square (RandAugment's place in FixMatch).
WEAK = ViewAugmentConfig(color_jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0)
STRONG = ViewAugmentConfig(color_jitter_prob=0.8, brightness=0.6, contrast=0.6,
                           saturation=0.6, hue=0.1, grayscale_prob=0.2, blur_prob=0.5,
                           blur_sigma=(0.1, 1.5), solarize_prob=0.2)
CUTOUT_FRACTION = 0.4  # side of the erased square, as a fraction of the input
PROBED_BACKBONE_LR_SCALE = 0.1  # a pretrained backbone under a probed head: a gentler rate
PSEUDO_LABELS_FILE = "pseudo_labels.json"


class Classifier(nn.Module):
    """A backbone and a linear head: [N, C, S, S] normalized images -> logits [N, K]; a
    linear probe's head reads L2-normalized features (``normalize_features``)."""

    def __init__(self, backbone: Backbone, num_classes: int,
                 normalize_features: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.feature_dim, num_classes)
        self.normalize_features = normalize_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        if self.normalize_features:
            features = F.normalize(features.float(), dim=1)
        return self.head(features)


@dataclass
class PreparedImages:
    """Decoded images of a folder, their labels (-1: unlabeled) and class names."""

    dataset: DecodedImageDataset
    labels: torch.Tensor
    class_names: list[str]


def _labeled(folder: str, image_format: ImageFormat, class_names: list[str] | None = None
             ) -> PreparedImages:
    found = scan_class_folders(folder, class_names)
    dataset = DecodedImageDataset(found.paths, image_format.channels, image_format.bit_depth,
                                  cache=True)
    label_of = dict(zip(found.paths, found.labels, strict=True))
    return PreparedImages(dataset, torch.tensor([label_of[p] for p in dataset.paths]),
                          found.class_names)


@dataclass
class UnlabeledImages:
    """FixMatch's unlabeled images (the folder's ``scan``, decoded as ``dataset``) and the
    bars their pseudo-labels must pass (which also record what each image was confidently
    taken to be)."""

    scan: FolderScan
    dataset: DecodedImageDataset
    thresholds: PseudoLabelThresholds


def _unlabeled(folder: str, image_format: ImageFormat, config: ClassifyConfig,
               num_classes: int, device: torch.device) -> UnlabeledImages:
    scan = scan_image_folder(folder)
    if not scan.paths:
        raise DataFolderError(f"unlabeled folder {folder} holds no readable image")
    dataset = DecodedImageDataset(scan.paths, image_format.channels, image_format.bit_depth,
                                  cache=True)
    return UnlabeledImages(scan, dataset, PseudoLabelThresholds(
        config.thresholds, config.confidence, len(dataset), num_classes, device))


class Views:
    """Weak and strong views of padded uint8 batches, on the training device."""

    def __init__(self, image_size: int, channels: int, mean: list[float], std: list[float],
                 seed: int, device: torch.device) -> None:
        geometry = AugmentConfig(crop=CropConfig(scale=(0.5, 1.0)), hflip_prob=0.5,
                                 view1=WEAK, view2=STRONG)
        self.augment = TwoViewAugment(geometry, image_size, channels, mean, std)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.image_size = image_size

    def of(self, dataset: DecodedImageDataset, indices: list[int], strong: bool,
           device: torch.device) -> torch.Tensor:
        batch = self._batch(dataset, indices, device)
        view = self.augment.view(batch.images, batch.sizes, STRONG if strong else WEAK,
                                 self.generator)
        return self._cut_out(view) if strong else view

    def pair(self, dataset: DecodedImageDataset, indices: list[int], device: torch.device,
             kind: StrongViewKind = "shared_crop") -> tuple[torch.Tensor, torch.Tensor]:
        """A weak and a strong view of the same images, each [B, C, S, S]. ``shared_crop``:
        both recolored from one crop, so the strong view holds whatever small defect the
        weak view's pseudo-label saw; ``own_crop``: each view cut on its own."""
        if kind == "own_crop":
            return (self.of(dataset, indices, False, device),
                    self.of(dataset, indices, True, device))
        batch = self._batch(dataset, indices, device)
        crop = self.augment.cut(batch.images, batch.sizes, self.generator)
        return (self.augment.photometric(crop, WEAK, self.generator),
                self._cut_out(self.augment.photometric(crop, STRONG, self.generator)))

    @staticmethod
    def _batch(dataset: DecodedImageDataset, indices: list[int], device: torch.device
               ) -> PaddedBatch:
        """The images at ``indices``, padded into one uint8 batch on ``device``."""
        return collate_padded([dataset[index] for index in indices]).to(device)

    def _cut_out(self, x: torch.Tensor) -> torch.Tensor:
        side = max(1, round(self.image_size * CUTOUT_FRACTION))
        count = x.shape[0]
        corner = torch.randint(0, self.image_size - side + 1, (count, 2),
                               generator=self.generator, device=x.device)
        rows = torch.arange(self.image_size, device=x.device)
        inside_y = (rows[None] >= corner[:, :1]) & (rows[None] < corner[:, :1] + side)
        inside_x = (rows[None] >= corner[:, 1:]) & (rows[None] < corner[:, 1:] + side)
        erased = inside_y[:, :, None] & inside_x[:, None, :]  # [B, S, S]
        return x.masked_fill(erased[:, None], 0.0)


def prepare(image: torch.Tensor, image_size: int, mean: list[float], std: list[float],
            device: torch.device) -> torch.Tensor:
    """uint8 [C, H, W] -> the classifier's input [1, C, S, S]: resized whole, normalized."""
    x = image.to(device).unsqueeze(0).float().div_(255)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                      align_corners=False)
    return normalize(x, mean, std)


@torch.no_grad()
def resized(dataset: DecodedImageDataset, image_size: int, mean: list[float],
            std: list[float], device: torch.device) -> torch.Tensor:
    """Every image of ``dataset`` prepared (``prepare``) -> [N, C, S, S] on device."""
    return torch.cat([prepare(dataset.image(index), image_size, mean, std, device)
                      for index in range(len(dataset))])


@torch.no_grad()
def _features(backbone: Backbone, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    backbone.eval()
    return F.normalize(torch.cat([backbone(images[start:start + batch]).float()
                                  for start in range(0, len(images), batch)]), dim=1)


def _class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=num_classes).float().clamp_min(1)
    return counts.sum() / (num_classes * counts)


def _fit_linear(classifier: Classifier, features: torch.Tensor, labels: torch.Tensor,
                steps: int = 500, weight_decay: float = 1e-4) -> None:
    """Logistic regression of the head on frozen features (full batch, L-BFGS)."""
    weights = _class_weights(labels, classifier.head.out_features).to(features.device)
    optimizer = torch.optim.LBFGS(classifier.head.parameters(), lr=1, max_iter=steps,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier.head(features), labels, weight=weights)
        loss = loss + weight_decay * classifier.head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)


class _EMA:
    """An exponential moving average of a model's weights. Its decay warms up, (1 + n) /
    (10 + n) after n updates until ``decay`` is reached: a run of a few hundred steps at
    0.999 would otherwise end with an average that is still three quarters the initial
    weights (0.999^300 = 0.74), its random head included."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ours, theirs in zip(self.model.state_dict().values(), model.state_dict().values(),
                                strict=True):
            if ours.dtype.is_floating_point:
                ours.lerp_(theirs, 1 - decay)
            else:
                ours.copy_(theirs)


def _balanced_indices(labels: torch.Tensor, count: int, generator: torch.Generator
                      ) -> list[int]:
    """``count`` labeled indices, each class equally likely (rare defects seen as often as
    common ones)."""
    classes = torch.unique(labels)
    chosen_classes = classes[torch.randint(len(classes), (count,), generator=generator)]
    indices = []
    for class_index in chosen_classes.tolist():
        members = torch.nonzero(labels == class_index).flatten()
        indices.append(int(members[torch.randint(len(members), (1,), generator=generator)]))
    return indices


def _train(classifier: Classifier, config: ClassifyConfig, labeled: PreparedImages,
           unlabeled: UnlabeledImages | None, views: Views, device: torch.device,
           progress: StageProgress, backbone_lr_scale: float = 1.0) -> nn.Module:
    """SGD with Nesterov momentum and a cosine schedule; returns the EMA model. The
    backbone learns at ``backbone_lr_scale`` times the head's rate."""
    optimizer = torch.optim.SGD(
        [{"params": classifier.head.parameters(), "scale": 1.0},
         {"params": classifier.backbone.parameters(), "scale": backbone_lr_scale}],
        lr=config.learning_rate, momentum=0.9, nesterov=True,
        weight_decay=config.weight_decay)
    ema = _EMA(classifier, config.ema)
    generator = torch.Generator().manual_seed(config.seed)
    weights = _class_weights(labeled.labels, len(labeled.class_names)).to(device)
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = group["scale"] * config.learning_rate * math.cos(
                7 * math.pi * step / (16 * config.steps))
        classifier.train()
        chosen = _balanced_indices(labeled.labels, config.batch_size, generator)
        inputs = [views.of(labeled.dataset, chosen, False, device)]
        if unlabeled is not None:
            picked = torch.randint(len(unlabeled.dataset), (config.batch_size
                                                            * config.unlabeled_ratio,),
                                   generator=generator)
            inputs += list(views.pair(unlabeled.dataset, picked.tolist(), device,
                                      config.strong_view))
        logits = classifier(torch.cat(inputs))  # one pass: BatchNorm sees all of them
        labeled_logits = logits[:config.batch_size]
        targets = labeled.labels[chosen].to(device)
        loss = F.cross_entropy(labeled_logits, targets, weight=weights)
        if unlabeled is not None:
            weak, strong = logits[config.batch_size:].chunk(2)
            probabilities = weak.detach().softmax(dim=1)
            confidence, pseudo = probabilities.max(dim=1)
            mask = unlabeled.thresholds.mask(confidence, pseudo, picked.to(device))
            unlabeled_loss = (F.cross_entropy(strong, pseudo, reduction="none") * mask).mean()
            loss = loss + config.unlabeled_weight * unlabeled_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(classifier)
        progress("train", step + 1, config.steps)
    return ema.model


def train_classifier(config: ClassifyConfig, out: str | Path,
                     progress: StageProgress | None = None) -> dict[str, Any]:
    """Train the classifier ``config`` asks for, measure it on ``config.val`` (when given),
    write the model directory to ``out``; returns the report."""
    progress = progress or (lambda stage, done, total: None)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    scan = scan_class_folders(config.labeled)
    probed = probe_format(scan.paths, seed=config.seed)
    source = config.backbone
    if config.method == "supervised" and source.checkpoint is not None:
        architecture = load_backbone(source, probed.channels,
                                     torch.device("cpu")).recipe["name"]
        source = BackboneSource(architecture=architecture)
    sourced: SourcedBackbone = load_backbone(source, probed.channels, device)
    image_format = sourced.image_format or probed
    image_size = config.image_size or sourced.image_size
    labeled = _labeled(config.labeled, image_format)
    mean, std = (sourced.mean, sourced.std) if sourced.mean is not None else \
        channel_statistics(labeled.dataset, seed=config.seed)
    # A linear probe, and FixMatch on a pretrained backbone, start from the probe's head on
    # frozen features: fine-tuning from a random head would first bend the pretrained
    # features toward its noise (Kumar et al. 2022, LP-FT); that backbone then learns at a
    # tenth of the head's rate.
    probe_first = config.method == "linear" or (config.method == "fixmatch"
                                                and sourced.pretrained)
    classifier = Classifier(sourced.backbone, len(labeled.class_names),
                            normalize_features=probe_first).to(device)
    if probe_first:
        features = _features(sourced.backbone,
                             resized(labeled.dataset, image_size, mean, std, device))
        _fit_linear(classifier, features, labeled.labels.to(device))
    model: nn.Module = classifier
    unlabeled: UnlabeledImages | None = None
    if config.method != "linear":
        unlabeled = (_unlabeled(config.unlabeled, image_format, config,
                                len(labeled.class_names), device)
                     if config.method == "fixmatch" else None)
        views = Views(image_size, image_format.channels, mean, std, config.seed, device)
        model = _train(classifier, config, labeled, unlabeled, views, device, progress,
                       backbone_lr_scale=PROBED_BACKBONE_LR_SCALE if probe_first else 1.0)

    metrics: dict[str, Any] = {}
    if config.val is not None:
        val = _labeled(config.val, image_format, labeled.class_names)
        probabilities = predict_logits(model, resized(val.dataset, image_size, mean, std,
                                                      device)).softmax(dim=1).cpu()
        metrics = classification_metrics(probabilities.argmax(dim=1), val.labels,
                                         labeled.class_names)
        metrics["val_images"] = len(val.dataset)
        _write_evaluation(out, val, probabilities, Path(config.val))
    card = ModelCard(
        task="classify",
        preprocessing=Preprocessing(image_format.channels, image_format.bit_depth,
                                    list(mean), list(std), image_size=image_size),
        backbone=sourced.recipe,
        data_fingerprint=fingerprint(labeled.dataset.paths, Path(config.labeled)),
        metrics=metrics, class_names=labeled.class_names,
        settings={"method": config.method, "normalize_features": probe_first,
                  "pretrained": sourced.pretrained, "labeled_images": len(labeled.dataset)})
    save_model(out, card, {"model": model.state_dict()})
    report = {"task": "classify", "out": str(out), "method": config.method,
              "classes": labeled.class_names, "metrics": metrics}
    if unlabeled is not None:
        report["pseudo_labels"] = _write_pseudo_labels(out, unlabeled, labeled.class_names)
    return report


def _write_pseudo_labels(out: str | Path, unlabeled: UnlabeledImages, class_names: list[str]
                         ) -> dict[str, Any]:
    """``pseudo_labels.json``: the class FixMatch last took each unlabeled image to be where
    it was confident (at or above ``confidence``), how many per class, and the share of
    pseudo-labels that passed their bars over the run; returns all but the per-image list,
    for the report. A run that labels most good parts as a defect shows it here."""
    thresholds = unlabeled.thresholds
    latest = thresholds.latest.cpu()
    images = {unlabeled.scan.relative(path): class_names[int(label)]
              for path, label in zip(unlabeled.dataset.paths, latest, strict=True)
              if label >= 0}
    counts = torch.bincount(latest[latest >= 0], minlength=len(class_names))
    summary = {"unlabeled_images": len(latest), "confidently_labeled": len(images),
               "per_class": dict(zip(class_names, counts.tolist(), strict=True)),
               "confidence": thresholds.confidence, "thresholds": thresholds.kind,
               "used_fraction": round(thresholds.used_fraction, 4)}
    (Path(out) / PSEUDO_LABELS_FILE).write_text(json.dumps({**summary, "images": images}))
    return summary


def _write_evaluation(out: str | Path, val: PreparedImages, probabilities: torch.Tensor,
                      root: Path) -> None:
    """``evaluation.json`` of the validation images: confusion, one-vs-rest curves, each
    image's true and predicted class, a small picture of the misclassified ones."""
    class_names = list(val.class_names)
    confidence, predicted = probabilities.max(dim=1)
    results = [ImageResult(path.relative_to(root).as_posix(), class_names[int(true)],
                           class_names[int(guess)], float(score))
               for path, true, guess, score in zip(val.dataset.paths, val.labels, predicted,
                                                   confidence, strict=True)]
    wrong = sorted((at for at, result in enumerate(results) if result.wrong),
                   key=lambda at: -results[at].score)[:MAX_PICTURES]
    for rank, at in enumerate(wrong):
        picture = f"examples/{rank:03d}-{Path(results[at].path).stem}.png"
        save_example(val.dataset.image(at), Path(out) / picture)
        results[at].picture = picture
    write_evaluation(out, "classify", class_names, results, one_vs_rest_curves(
        probabilities.numpy(), val.labels.numpy(), class_names))


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """Logits [N, K] of normalized images [N, C, S, S]."""
    model.eval()
    return torch.cat([model(images[start:start + batch]).float()
                      for start in range(0, len(images), batch)])


def load_classifier(directory: str | Path, device: torch.device
                    ) -> tuple[Classifier, ModelCard]:
    card = load_card(directory, task="classify")
    backbone = rebuild_backbone(card.backbone, card.preprocessing.channels)
    classifier = Classifier(backbone, len(card.class_names),
                            normalize_features=card.settings["normalize_features"])
    classifier.load_state_dict(load_weights(directory, device)["model"])
    return classifier.to(device).eval(), card
