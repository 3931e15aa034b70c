"""PatchCore's greedy coreset: the projection stored column-major against row-major.

The coreset (k-center on a 128-dim random projection of the good parts' patch features) is a
loop of one matrix-vector product per kept patch over the whole pool. It used to keep the
projection row-major ([N, 128], ``torch.mv``); it now keeps it column-major ([128, N], a row
vector times the matrix). This times both on the same pool, a KolektorSDD-sized one by
default (278 good parts x 512 patches of ResNet-18's 384 layer2+layer3 channels), rounds
alternating, in one process; prints the ratio and how many kept patches the two choose
differently (float sums in another order may break a near tie the other way).

    python -m bench.coreset --bank 8192 --rounds 1
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.peer_timing import print_medians
from engine.downstream.patchcore import PROJECTION_DIM, greedy_coreset


def row_major_coreset(features: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """The former coreset: the same k-center, projection kept [N, 128], ``torch.mv``."""
    count = features.shape[0]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    dims = features.shape[1]
    projection = torch.randn(dims, min(PROJECTION_DIM, dims), generator=generator)
    projected = features @ projection
    norms = projected.pow(2).sum(1)
    chosen = torch.empty(size, dtype=torch.long)
    current = int(torch.randint(count, (1,), generator=generator))
    nearest = torch.full((count,), float("inf"))
    for index in range(size):
        chosen[index] = current
        distances = torch.mv(projected, projected[current]).mul_(-2).add_(norms)
        torch.minimum(nearest, distances.add_(norms[current]), out=nearest)
        current = int(torch.argmax(nearest))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=278)
    parser.add_argument("--patches-per-part", type=int, default=512)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--bank", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    pool = torch.randn(args.parts * args.patches_per_part, args.dims)
    contenders = {"row-major (before)": row_major_coreset,
                  "column-major (now)": greedy_coreset}
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    chosen = {}
    for _ in range(args.rounds):
        for name, coreset in contenders.items():
            start = time.perf_counter()
            chosen[name] = coreset(pool, args.bank)
            timings[name].append(time.perf_counter() - start)
    before, now = chosen.values()
    differ = len(set(before.tolist()) ^ set(now.tolist())) // 2
    print(f"pool {pool.shape[0]:,} x {args.dims}, bank {args.bank:,}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} rounds")
    ratio = print_medians(timings, "row-major (before)", "column-major (now)")
    print(f"  speed-up {ratio:.2f}x; kept patches chosen differently: {differ} of {args.bank}")


if __name__ == "__main__":
    main()
