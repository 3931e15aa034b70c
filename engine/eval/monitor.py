"""kNN evaluation of a backbone on labeled train/test folders, loaded once and reused.

Used by ``hatchery eval knn`` and, every few hundred steps, by a pretraining run: the number
that tells whether pretraining helps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.data.dataset import DecodedImageDataset
from engine.data.folder import ImageFormat
from engine.eval.features import EmbeddingSetup, embed_images
from engine.eval.knn import knn_report
from engine.eval.labeled import scan_class_folders
from engine.schemas.eval import DEFAULT_KS, DEFAULT_TEMPERATURE
from engine.schemas.pretrain import PretrainConfig


@dataclass
class LabeledSplit:
    dataset: DecodedImageDataset
    labels: torch.Tensor  # int64 [N]


class KnnMonitor:
    """Decoded, labeled train and test images plus the embedding setup of one backbone."""

    def __init__(
        self,
        train_dir: str | Path,
        test_dir: str | Path,
        image_format: ImageFormat,
        setup: EmbeddingSetup,
        device: torch.device,
        ks: tuple[int, ...] = DEFAULT_KS,
        temperature: float = DEFAULT_TEMPERATURE,
        batch_tiles: int = 256,
    ) -> None:
        train = scan_class_folders(train_dir)
        test = scan_class_folders(test_dir, class_names=train.class_names)
        self.class_names = train.class_names
        self.train = self._load(train.paths, train.labels, image_format)
        self.test = self._load(test.paths, test.labels, image_format)
        self.setup = setup
        self.device = device
        self.ks = ks
        self.temperature = temperature
        self.batch_tiles = batch_tiles

    @staticmethod
    def _load(paths: list[Path], labels: list[int], image_format: ImageFormat) -> LabeledSplit:
        dataset = DecodedImageDataset(paths, image_format.channels, image_format.bit_depth,
                                      cache=True)
        kept = {path: label for path, label in zip(paths, labels, strict=True)}
        return LabeledSplit(dataset, torch.tensor([kept[path] for path in dataset.paths]))

    @classmethod
    def from_pretrain_setup(cls, config: PretrainConfig, image_format: ImageFormat,
                            mean: list[float], std: list[float], device: torch.device
                            ) -> KnnMonitor:
        setup = EmbeddingSetup(config.data.image_size, config.augment.crop, mean, std)
        return cls(config.eval.train, config.eval.test, image_format, setup, device)

    def _embed(self, backbone: nn.Module, split: LabeledSplit) -> torch.Tensor:
        images = (split.dataset.image(index) for index in range(len(split.dataset)))
        return embed_images(backbone, images, self.setup, self.device, self.batch_tiles)

    def evaluate(self, backbone: nn.Module) -> dict[str, dict[str, object]]:
        """{"k=20": {"top1", "balanced_accuracy", "per_class_recall"}, "k=200": ...}"""
        train_features = self._embed(backbone, self.train)
        test_features = self._embed(backbone, self.test)
        return knn_report(
            train_features, self.train.labels.to(self.device),
            test_features, self.test.labels.to(self.device),
            self.class_names, self.ks, self.temperature,
        )
