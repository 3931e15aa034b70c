"""What a model costs to use, measured where it was trained: the median time one prediction
takes (decoding, preprocessing, the network, post-processing) and the size of its weights.
The model comparison shows them beside the quality figures, so a slower or larger model has
to earn its place."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from engine.downstream.model_dir import WEIGHTS_FILE
from engine.downstream.predict import Predictor

TIMED_IMAGES = 5


def serving_cost(model_dir: str | Path, images: list[Path], device: str = "auto"
                 ) -> dict[str, float]:
    """``latency_ms``: the median over up to 5 of ``images`` (after one warm-up
    prediction); ``model_bytes``: the size of the weights file."""
    predictor = Predictor(model_dir, device)
    sample = images[:TIMED_IMAGES]
    cost = {"model_bytes": float((Path(model_dir) / WEIGHTS_FILE).stat().st_size)}
    if not sample:
        return cost
    predictor(sample[0])  # warm-up: lazy initialization, caches
    times = []
    for path in sample:
        started = time.perf_counter()
        predictor(path)
        times.append(time.perf_counter() - started)
    cost["latency_ms"] = round(1000 * statistics.median(times), 3)
    return cost
