"""Pretraining for a CPU (or GPU) time budget: the step count, fixed up front (the learning
rate and momentum schedules are cosines over it), calibrated from a probe run.

The probe has to be long enough to be trusted: a few warm-up steps, then ``PROBE_STEPS``
timed ones, whose median step time sets the count (one slow step from a DataLoader worker
start or a page fault must not halve the run, as a 6-step mean did).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.schemas.pretrain import PretrainConfig
from engine.train.pretrain import PretrainRun

PROBE_WARMUP_STEPS, PROBE_STEPS = 4, 20


def seconds_per_step(config_for: Callable[[int], PretrainConfig]) -> float:
    """The median time of one training step of ``config_for(steps)``'s recipe."""
    probe = PretrainRun(config_for(10_000), Path(tempfile.mkdtemp()) / "probe")
    probe.method.train()
    batches = probe.batches(0)
    for _ in range(PROBE_WARMUP_STEPS):  # oneDNN primitives, allocator, loader workers
        probe.train_step(next(batches))
    timings = []
    for _ in range(PROBE_STEPS):
        started = time.perf_counter()
        probe.train_step(next(batches))
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def steps_for(minutes: float, config_for: Callable[[int], PretrainConfig]) -> int:
    """How many steps of ``config_for``'s recipe fit in ``minutes``."""
    return max(1, int(minutes * 60 / seconds_per_step(config_for)))
