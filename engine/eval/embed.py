"""The ``embed`` and ``eval knn`` jobs on a pretrain checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.decode import UnreadableImageError, decode_image
from engine.data.folder import DataFolderError, scan_image_folder
from engine.distributed import resolve_device
from engine.downstream.baselines import baseline_backbones, beside_baselines
from engine.errors import HatcheryInputError
from engine.eval.features import embed_images
from engine.eval.load import PretrainedBackbone, load_pretrained_backbone
from engine.eval.monitor import KnnMonitor
from engine.schemas.eval import EmbedConfig, KnnEvalConfig


def embed_folder_images(pretrained: PretrainedBackbone, data: str | Path,
                        device: torch.device, batch_tiles: int = 256
                        ) -> tuple[torch.Tensor, list[str], list[str]]:
    """Every readable image under ``data`` through the checkpoint's backbone -> (features
    [N, D] L2-normalized on ``device``, their paths relative to ``data``, the files that
    could not be read). Raises DataFolderError when none can."""
    scan = scan_image_folder(data)
    if not scan.paths:
        raise DataFolderError(f"data folder {data} holds no readable image")
    channels, bit_depth = pretrained.image_format.channels, pretrained.image_format.bit_depth
    embedded: list[str] = []
    skipped = [path for path, _ in scan.skipped]

    def readable_images():
        for path in scan.paths:
            try:
                image = decode_image(path, channels, bit_depth)
            except UnreadableImageError:
                skipped.append(scan.relative(path))
                continue
            embedded.append(scan.relative(path))
            yield image

    features = embed_images(pretrained.backbone, readable_images(), pretrained.setup, device,
                            batch_tiles=batch_tiles)
    if not embedded:
        raise DataFolderError(f"no image under {data} could be decoded")
    return features, embedded, skipped


def embed_folder(config: EmbedConfig, out: str | Path) -> dict[str, Any]:
    """Write ``out`` (.npz): ``features`` float32 [N, D] L2-normalized, ``paths`` [N] relative
    to ``config.data``, ``skipped`` [M] unreadable files. Returns a short summary."""
    out = Path(out)
    if out.suffix != ".npz":
        raise HatcheryInputError(f"--out {out} must end in .npz")
    torch_device = resolve_device(config.device)
    pretrained = load_pretrained_backbone(config.checkpoint, torch_device, config.max_tiles)
    features, embedded, skipped = embed_folder_images(pretrained, config.data, torch_device,
                                                      config.batch_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        features=features.cpu().numpy().astype(np.float32),
        paths=np.array(embedded),
        skipped=np.array(skipped, dtype=str),
    )
    return {"out": str(out), "images": int(features.shape[0]), "dim": int(features.shape[1]),
            "skipped": len(skipped)}


def evaluate_knn(config: KnnEvalConfig) -> dict[str, Any]:
    """Weighted kNN (by default k = 20 and 200, T = 0.07) of the checkpoint's frozen
    backbone on ``config.train`` / ``config.test`` (one sub-folder per class):
    ``{"k=20": {...}, ...}``, with ``config.baselines`` also ``"baselines"`` (the same for a
    random-init network and raw pixels, ``engine.downstream.baselines``) and ``"warnings"``
    where the backbone does not beat them."""
    if config.checkpoint is None:
        raise HatcheryInputError("a kNN evaluation needs a checkpoint")
    torch_device = resolve_device(config.device)
    pretrained = load_pretrained_backbone(config.checkpoint, torch_device, config.max_tiles)
    monitor = KnnMonitor(config.train, config.test, pretrained.image_format, pretrained.setup,
                         torch_device, ks=config.k, temperature=config.temperature,
                         batch_tiles=config.batch_size)
    report: dict[str, Any] = monitor.evaluate(pretrained.backbone)
    if config.baselines:
        baselines = {name: monitor.evaluate(backbone) for name, backbone in baseline_backbones(
            pretrained.config.backbone, pretrained.image_format.channels, torch_device).items()}
        warnings = [warning for k in report for warning in beside_baselines(
            "knn", report[k], {name: figures[k] for name, figures in baselines.items()})]
        report.update(baselines=baselines, warnings=warnings)
    return report
