"""How many directions an anomaly model's patch features use: the effective rank of its
memory bank.

PatchCore scores a patch by its distance to the nearest good patch in the bank. If the
backbone's features crowd into a few directions, those distances see little else. This reads
the bank of each model directory given (``hatchery finetune anomaly`` writes it), centres it,
and prints per block of channels (a ResNet-18's layer2: 128, layer3: 256) and overall the
effective rank (Roy and Vetterli 2007: exp of the entropy of the normalized squared singular
values; at most the channel count), the share of variance of the first and first ten
directions, and the mean variance per channel.

    python -m bench.feature_rank runs/bench_anomaly/models/random runs/bench_anomaly/models/planned
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engine.downstream.model_dir import load_weights


def spectrum(features: torch.Tensor) -> dict[str, float]:
    """features [N, D] -> effective rank, top-1 and top-10 variance shares, mean variance."""
    values = features.float()
    centered = values - values.mean(dim=0)
    singular = torch.linalg.svdvals(centered)
    shares = singular.pow(2) / singular.pow(2).sum()
    entropy = -(shares * shares.clamp_min(1e-12).log()).sum()
    return {"effective_rank": round(float(entropy.exp()), 1),
            "top1_share": round(float(shares[0]), 3),
            "top10_share": round(float(shares[:10].sum()), 3),
            "mean_variance": round(float(centered.var(dim=0).mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="anomaly model directories")
    parser.add_argument("--blocks", type=int, nargs="+", default=[128, 256],
                        help="channels of each stage in the bank, shallow first")
    args = parser.parse_args()
    for model in args.models:
        bank = load_weights(model, torch.device("cpu"))["bank"]
        record = {"model": str(model), "bank": list(bank.shape)}
        start = 0
        if sum(args.blocks) == bank.shape[1]:
            for index, width in enumerate(args.blocks):
                record[f"block{index + 1}"] = spectrum(bank[:, start:start + width])
                start += width
        record["all"] = spectrum(bank)
        print(json.dumps(record))


if __name__ == "__main__":
    main()
