"""Pretraining for a CPU (or GPU) time budget: the step count, fixed up front (the learning
rate and momentum schedules are cosines over it), calibrated from a probe run.

The probe has to be long enough to be trusted: a few warm-up steps, then ``PROBE_STEPS``
timed ones, whose median step time sets the count (one slow step from a DataLoader worker
start or a page fault must not halve the run, as a 6-step mean did).

Recipes compared at equal minutes are probed together (``steps_for_each``), their timed
steps alternating in rounds: on a shared machine whose speed drifts (one NEU-DET run went
from 196 to 128 images/s within minutes), probing one recipe right before its own run gave
one recipe nearly twice another's time (docs/benchmarks.md section 8, session 31).
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
PROBE_ROUNDS = 4  # steps_for_each: PROBE_STEPS per recipe, in this many alternating rounds

Recipe = Callable[[int], PretrainConfig]  # steps -> the config of that many steps


class _Probe:
    """A throwaway run of one recipe whose training steps can be timed."""

    def __init__(self, config_for: Recipe) -> None:
        self.run = PretrainRun(config_for(10_000), Path(tempfile.mkdtemp()) / "probe")
        self.run.method.train()
        self.batches = self.run.batches(0)
        self.timings: list[float] = []

    def steps(self, count: int, timed: bool = True) -> None:
        for _ in range(count):
            started = time.perf_counter()
            self.run.train_step(next(self.batches))
            if timed:
                self.timings.append(time.perf_counter() - started)


def seconds_per_step(config_for: Recipe) -> float:
    """The median time of one training step of ``config_for(steps)``'s recipe."""
    probe = _Probe(config_for)
    probe.steps(PROBE_WARMUP_STEPS, timed=False)  # oneDNN primitives, allocator, loaders
    probe.steps(PROBE_STEPS)
    return statistics.median(probe.timings)


def steps_for_each(minutes: float, recipes: dict[str, Recipe]) -> dict[str, int]:
    """How many steps of each recipe fit in ``minutes``, from probes of all of them timed
    in ``PROBE_ROUNDS`` alternating rounds (each recipe's median step time)."""
    probes = {name: _Probe(recipe) for name, recipe in recipes.items()}
    for probe in probes.values():
        probe.steps(PROBE_WARMUP_STEPS, timed=False)
    per_round = max(1, PROBE_STEPS // PROBE_ROUNDS)
    for _ in range(PROBE_ROUNDS):
        for probe in probes.values():
            probe.steps(per_round)
    return {name: max(1, int(minutes * 60 / statistics.median(probe.timings)))
            for name, probe in probes.items()}
