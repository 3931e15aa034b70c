"""The printout of a bench that times a former implementation (the peer) against the
current one in the same process: each contender's median over the rounds, then the ratio."""

from __future__ import annotations

import statistics


def print_medians(timings: dict[str, list[float]], before: str, now: str,
                  per_second: int | None = None, unit: str = "images") -> float:
    """Print each contender's median seconds (and ``unit``/s over ``per_second`` items when
    given); return the speed-up median(before) / median(now)."""
    for name, values in timings.items():
        median = statistics.median(values)
        rate = f"  ({per_second / median:5.2f} {unit}/s)" if per_second else ""
        print(f"  {name:>20}: {median:7.2f} s{rate}")
    return statistics.median(timings[before]) / statistics.median(timings[now])
