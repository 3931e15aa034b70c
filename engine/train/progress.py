"""One progress type for every long job: the CLI draws it, workers store it, the UI plots it.

    def on_progress(progress: Progress) -> None: ...
    run = PretrainRun(config, out_dir, callbacks=[on_progress], should_cancel=lambda: False)
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    images_per_second: float
    eta_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: a NaN or infinite figure (a diverging loss) becomes null."""
        return _finite_or_none(asdict(self))


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
# Work done in stages of known length (the images of a data set): (stage, done, total).
StageProgress = Callable[[str, int, int], None]


class ProgressBar:
    """A one-line terminal progress bar: step/total, loss, lr, img/s, ETA."""

    def __init__(self, stream: IO[str] | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width

    def __call__(self, progress: Progress) -> None:
        fraction = progress.step / max(1, progress.total_steps)
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        eta = time.strftime("%H:%M:%S", time.gmtime(max(0.0, progress.eta_seconds)))
        line = (
            f"\r[{bar}] {progress.step}/{progress.total_steps} loss {progress.loss:.4f} "
            f"lr {progress.lr:.2e} {progress.images_per_second:.1f} img/s eta {eta}"
        )
        self.stream.write(line)
        if progress.step >= progress.total_steps:
            self.stream.write("\n")
        self.stream.flush()


class MetricsLog:
    """Append-only JSON lines (``metrics.jsonl``); on resume, lines past the checkpoint go."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")


class StepMeter:
    """Sums of a step's scalars and of the seconds spent inside training steps.

    Evaluations and checkpoints between steps are not timed, so img/s and ETA describe
    training alone. Scalars stay tensors until ``averages`` (one host sync per report).
    """

    def __init__(self) -> None:
        self._sums: dict[str, Any] = {}
        self.window_steps = 0
        self.window_seconds = 0.0
        self.total_steps = 0
        self.total_seconds = 0.0

    def add_scalars(self, scalars: dict[str, Any]) -> None:
        for name, value in scalars.items():
            self._sums[name] = self._sums.get(name, 0.0) + value.float()
        self.window_steps += 1
        self.total_steps += 1

    def add_seconds(self, seconds: float) -> None:
        self.window_seconds += seconds
        self.total_seconds += seconds

    def averages(self) -> dict[str, float]:
        steps = max(1, self.window_steps)
        return {name: float(total) / steps for name, total in self._sums.items()}

    @property
    def seconds_per_step(self) -> float:
        return self.total_seconds / max(1, self.total_steps)

    def reset_window(self) -> None:
        self._sums, self.window_steps, self.window_seconds = {}, 0, 0.0
