"""PatchCore's feature pass with and without the stages it does not read.

PatchCore reads a backbone's two middle stages (a ResNet's layer2 and layer3). Its feature
pass used to run the whole network and drop layer4's map; it now stops after layer3
(``Backbone.shallow_maps``). This times both on the same KolektorSDD images (about 500 x
1250 px, whole at native scale, as ``hatchery finetune anomaly`` reads them), rounds
alternating, in one process, checks that the features are the same, and prints the ratio.

    python -m bench.patch_stages --images 8 --rounds 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bench.peer_timing import print_medians
from engine.backbones import Backbone
from engine.backbones.resnet import ResNetBackbone
from engine.data.decode import decode_image
from engine.downstream.patchcore import PatchFeatures, dense_features, scale_image

KOLEKTOR = Path(__file__).resolve().parents[2] / "shared/data/kolektorsdd/Datasets/images/val"
TILE = 1024  # hatchery finetune anomaly's default tile, in network pixels


class WholePass(PatchFeatures):
    """The former feature pass: every stage computed, the middle two kept."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        maps = self.backbone.feature_maps(x)
        first = max(0, len(maps) // 2 - 1)
        return self.combine(maps[first:first + 2])


def seconds(extractor: PatchFeatures, images: list[torch.Tensor]) -> tuple[float, list]:
    """Wall seconds of the feature pass over ``images``, and the features."""
    start = time.perf_counter()
    features = [dense_features(extractor, image, TILE)[0] for image in images]
    return time.perf_counter() - start, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbone", default="resnet18")
    args = parser.parse_args()
    torch.manual_seed(0)
    backbone: Backbone = ResNetBackbone(args.backbone, in_channels=1).eval()
    paths = sorted(KOLEKTOR.glob("*.jpg"))[:args.images]
    images = [scale_image(decode_image(path, 1), 1.0, [0.5], [0.25]) for path in paths]
    contenders = {"whole network": WholePass(backbone),
                  "middle stages only": PatchFeatures(backbone)}
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    outputs = {}
    for _ in range(args.rounds):
        for name, extractor in contenders.items():
            elapsed, outputs[name] = seconds(extractor, images)
            timings[name].append(elapsed)
    same = all(torch.equal(a, b) for a, b in zip(*outputs.values(), strict=True))
    size = "x".join(str(side) for side in images[0].shape[-2:])
    print(f"{args.backbone}, {len(images)} KolektorSDD images of about {size} px, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} rounds")
    ratio = print_medians(timings, "whole network", "middle stages only", len(images))
    print(f"  speed-up {ratio:.2f}x; features identical: {same}")


if __name__ == "__main__":
    main()
