"""The pretraining loop: data -> batched two-view augmentation -> method -> optimizer.

    result = PretrainRun(config, out_dir, callbacks=[ProgressBar()]).run()

Everything is chosen from the config before anything is written: a bad folder or option
fails with one ``HatcheryInputError`` and an untouched ``out_dir``. A run writes
``config.yaml`` (the resolved config), ``metrics.jsonl`` and ``checkpoint.pt`` (every
``runtime.checkpoint_every`` steps, on SIGTERM, on cancel and at the end). Resuming from that
checkpoint continues the same loss curve: the data position follows from the step, the
augmentation generator is re-seeded from (seed, rank, step), and model, memories, optimizer,
scaler and the global RNG are restored.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from engine import distributed
from engine.checkpoint import (
    CHECKPOINT_FORMAT,
    backbone_state,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_atomically,
)
from engine.data.augment import TwoViewAugment
from engine.data.dataset import PaddedBatch, collate_padded
from engine.data.other_shots import OtherShots
from engine.data.sampler import ResumableBatchSampler, batches_per_epoch
from engine.data.training_set import TrainingImages, load_training_images
from engine.distributed import cpu_has_fast_bf16, init_distributed_from_env, resolve_device
from engine.errors import HatcheryInputError
from engine.eval.monitor import KnnMonitor
from engine.schemas.pretrain import PretrainConfig
from engine.schemas.recipes import resolve_pretrain_config
from engine.schemas.runnable import DataFacts, check_pretrain
from engine.ssl import SelfSupervisedMethod, build_method
from engine.train.optim import build_optimizer, scaled_learning_rate
from engine.train.progress import (
    CancelCheck,
    MetricsLog,
    Progress,
    ProgressCallback,
    StepMeter,
)
from engine.train.schedule import set_learning_rate, warmup_cosine

DEFAULT_EPOCHS = 100
Status = Literal["completed", "cancelled", "interrupted"]
# Called with (checkpoint path, step, final) after each checkpoint is written, e.g. to upload
# it; ``final``: the completed run's checkpoint (the trained backbone only, nothing to resume).
CheckpointCallback = Callable[[Path, int, bool], None]


class TrainingDiverged(HatcheryInputError):
    """The loss stayed NaN or infinite: the run stops, and its checkpoint is removed."""


@dataclass
class PretrainResult:
    status: Status
    step: int
    total_steps: int
    out_dir: Path
    last_metrics: dict[str, Any] = field(default_factory=dict)


def total_steps_of(config: PretrainConfig, steps_per_epoch: int) -> int:
    if config.steps is not None:
        return config.steps
    epochs = config.epochs if config.epochs is not None else DEFAULT_EPOCHS
    return max(1, math.ceil(epochs * steps_per_epoch))


class _StopSignal:
    """Turns SIGTERM into a flag the loop checks every step (checkpoint, then stop)."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def __enter__(self) -> _StopSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class PretrainRun:
    """One pretraining run into ``out_dir``; ``resume=True`` continues its checkpoint."""

    def __init__(
        self,
        config: PretrainConfig,
        out_dir: str | Path,
        callbacks: Sequence[ProgressCallback] = (),
        should_cancel: CancelCheck | None = None,
        resume: bool = False,
        images: TrainingImages | None = None,
        checkpoint_callbacks: Sequence[CheckpointCallback] = (),
    ) -> None:
        self.out_dir = Path(out_dir)
        self.callbacks = list(callbacks)
        self.checkpoint_callbacks = list(checkpoint_callbacks)
        self.should_cancel = should_cancel or (lambda: False)
        self.resume = resume
        self.checkpoint_path = self.out_dir / "checkpoint.pt"
        self._validate_out_dir()

        self.device = resolve_device(config.runtime.device)
        init_distributed_from_env(self.device)
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.images = images or load_training_images(config.data, seed=config.runtime.seed)
        self.config = resolve_pretrain_config(config, dataset_size=len(self.images.dataset),
                                              device_type=self.device.type)
        self.config.runtime.device = self.device.type
        check_pretrain(self.config, DataFacts(f"data folder {config.data.path}",
                                              len(self.images.dataset)), self.world_size)
        self._resolve_runtime()

        self.steps_per_epoch = batches_per_epoch(
            len(self.images.dataset), self.config.batch_size, self.world_size
        )
        self.total_steps = total_steps_of(self.config, self.steps_per_epoch)
        self.global_batch = self.config.batch_size * self.world_size
        self.peak_lr = scaled_learning_rate(self.config.optim, self.global_batch)
        self.warmup_steps = int(self.config.optim.warmup_fraction * self.total_steps)
        self._build_model()
        self.other_shots = self._other_shots()
        self.owners = self._owners()
        self.metrics_log = MetricsLog(self.out_dir / "metrics.jsonl")
        self.monitor = self._build_monitor()
        self.step = 0
        # Steps in a row whose loss was NaN or infinite, counted on the device (no sync).
        self.nonfinite_streak = torch.zeros((), dtype=torch.int64, device=self.device)

    # ----------------------------------------------------------------------------- setup
    def _validate_out_dir(self) -> None:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise HatcheryInputError(f"output {self.out_dir} exists and is not a directory")
        has_checkpoint = self.checkpoint_path.exists()
        if self.resume and not has_checkpoint:
            raise HatcheryInputError(f"--resume given but {self.checkpoint_path} does not exist")
        if not self.resume and has_checkpoint:
            raise HatcheryInputError(
                f"{self.out_dir} already holds a checkpoint: pass --resume or choose another --out"
            )

    def _leaves_out_own_keys(self) -> bool:
        return self.config.memory.exclude_own_keys and self.method.takes_owners

    def _other_shots(self) -> OtherShots | None:
        """The groups file's shots of each image's part (``data.groups``) when a feature
        reads them: where view 2 may come from (``augment.other_shot_prob``), whose keys a
        query skips (``memory.exclude_own_keys``); else None (no file, no image headers
        read at start-up)."""
        wanted = self.config.augment.other_shot_prob or self._leaves_out_own_keys()
        if self.config.data.groups is None or not wanted:
            return None
        dataset = self.images.dataset
        return OtherShots.from_groups_file(self.config.data.groups, self.config.data.path,
                                           dataset.paths, dataset.shapes())

    def _owners(self) -> torch.Tensor | None:
        """int64 [images] on the device: whose each image's keys are (its part, else
        itself), when the method leaves a query's own keys out of its negatives."""
        if not self._leaves_out_own_keys():
            return None
        if self.other_shots is not None:
            return self.other_shots.part_of.to(self.device)
        return torch.arange(len(self.images.dataset), device=self.device)

    def _resolve_runtime(self) -> None:
        """Pick precision and memory format for the device (measured: docs/benchmarks.md)."""
        runtime = self.config.runtime
        on_gpu = self.device.type == "cuda"
        if runtime.precision == "auto":
            runtime.precision = "bf16" if on_gpu or cpu_has_fast_bf16() else "fp32"
        if runtime.precision == "fp16" and not on_gpu:
            raise HatcheryInputError("fp16 needs a GPU; use bf16 or fp32 on the CPU")
        if runtime.channels_last == "auto":
            runtime.channels_last = self.config.backbone.name.startswith("resnet")

    def _build_model(self) -> None:
        config = self.config
        torch.manual_seed(config.runtime.seed)
        self.method: SelfSupervisedMethod = build_method(
            config, self.images.channels, self.total_steps
        ).to(self.device)
        if config.runtime.channels_last:
            self.method.to(memory_format=torch.channels_last)
        if config.runtime.compile:
            self.method.online_encoder.compile()
            self.method.target_encoder.compile()
        self.model: torch.nn.Module = self.method
        if self.world_size > 1:
            self.model = DistributedDataParallel(
                self.method,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False,
            )
        self.optimizer = build_optimizer(config.optim, self.method, self.global_batch)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=config.runtime.precision == "fp16"
        )
        self.augment = TwoViewAugment(
            config.augment, config.data.image_size, self.images.channels,
            self.images.mean, self.images.std,
        )
        self.generator = torch.Generator(device=self.device)

    def _build_monitor(self) -> KnnMonitor | None:
        """kNN on labeled folders during training (rank 0 only), when the config asks."""
        if self.config.eval.train is None or self.rank != 0:
            return None
        return KnnMonitor.from_pretrain_setup(
            self.config, self.images.image_format, self.images.mean, self.images.std,
            self.device,
        )

    # --------------------------------------------------------------------------- helpers
    def _autocast(self) -> contextlib.AbstractContextManager:
        precision = self.config.runtime.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def batches(self, start_step: int) -> Iterator[PaddedBatch]:
        epoch, batch = divmod(start_step, self.steps_per_epoch)
        dataset = self.images.dataset
        workers = self.config.data.workers
        if workers is None:
            workers = 0 if dataset.cached else min(8, max(1, (os.cpu_count() or 2) // 2))
        shapes = self._bucket_shapes()
        while True:
            sampler = ResumableBatchSampler(
                len(dataset), self.config.batch_size, self.config.runtime.seed, epoch,
                start_batch=batch, rank=self.rank, world_size=self.world_size, shapes=shapes,
            )
            # A private generator: creating a loader iterator must not draw from the global
            # RNG, or a resumed run (which creates one more) would diverge.
            loader = DataLoader(
                dataset, batch_sampler=sampler, num_workers=workers,
                collate_fn=collate_padded, pin_memory=self.device.type == "cuda",
                generator=torch.Generator().manual_seed(epoch),
            )
            yield from loader
            epoch, batch = epoch + 1, 0

    def _bucket_shapes(self) -> list[tuple[int, int]] | None:
        """The images' (height, width) when batches should be cut by size
        (``data.bucket_by_size``; auto: when the largest image has over 1.25 times the
        pixels of the smallest)."""
        setting = self.config.data.bucket_by_size
        if setting is False:
            return None
        shapes = self.images.dataset.shapes()
        areas = [height * width for height, width in shapes]
        if setting == "auto" and (not areas or max(areas) <= 1.25 * max(1, min(areas))):
            return None
        return shapes

    def _step_seed(self, step: int, stream: int = 0) -> int:
        """A seed of (seed, rank, step): a resumed run draws what the first one would."""
        key = (self.config.runtime.seed, self.rank, step) + ((stream,) if stream else ())
        return hash(key) & ((1 << 62) - 1)

    def _seed_augmentation(self, step: int) -> None:
        self.generator.manual_seed(self._step_seed(step))

    def _other_shot_images(self, batch: PaddedBatch) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(images, sizes) on the device to cut view 2 from, row for row another shot of the
        same part where one is drawn; None when view 2 comes from the batch itself."""
        if self.other_shots is None or not self.config.augment.other_shot_prob:
            return None
        generator = torch.Generator().manual_seed(self._step_seed(self.step, stream=1))
        partners = self.other_shots.draw(batch.indices, self.config.augment.other_shot_prob,
                                         generator)
        if torch.equal(partners, batch.indices):
            return None
        dataset = self.images.dataset
        paired = collate_padded([(index, dataset.image(index)) for index in partners.tolist()])
        paired = paired.to(self.device, non_blocking=True)
        return paired.images, paired.sizes

    # ------------------------------------------------------------------------ checkpoint
    def _checkpoint_state(self, final: bool) -> dict[str, Any]:
        """Everything an exact resume needs; at the end of a completed run only what using
        the model needs: the trained backbone (a quarter of the bytes for a ResNet-18)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "data": self.images.describe(),
            "step": self.step,
            "total_steps": self.total_steps,
        }
        if final:
            return {**state, "final": True, "method": backbone_state(self.method)}
        return {**state, "method": self.method.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": capture_rng_state()}

    def save_checkpoint(self, final: bool = False) -> None:
        """Write ``checkpoint.pt`` (rank 0), then hand it to the checkpoint callbacks."""
        if self.rank == 0:
            save_atomically(self._checkpoint_state(final), self.checkpoint_path)
            for callback in self.checkpoint_callbacks:
                callback(self.checkpoint_path, self.step, final)

    def _restore(self) -> None:
        state = load_checkpoint(self.checkpoint_path, map_location=self.device)
        if state.get("final"):
            raise HatcheryInputError(
                f"cannot resume: the run in {self.out_dir} is complete (step "
                f"{state['step']}); its checkpoint keeps the trained backbone only")
        saved = state["config"]
        for key in ("method", "batch_size"):
            if saved[key] != getattr(self.config, key):
                raise HatcheryInputError(
                    f"cannot resume: the checkpoint has {key}={saved[key]!r}, the config "
                    f"{getattr(self.config, key)!r}"
                )
        if saved["backbone"]["name"] != self.config.backbone.name:
            raise HatcheryInputError(
                f"cannot resume: the checkpoint's backbone is {saved['backbone']['name']}"
            )
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        self.step = int(state["step"])

    def _write_config(self) -> None:
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            record = {**self.config.model_dump(mode="json"), "steps": self.total_steps}
            record["epochs"] = None
            text = yaml.safe_dump(record, sort_keys=False)
            (self.out_dir / "config.yaml").write_text(text)
            data_report = {
                **self.images.describe(),
                "images_with_another_shot": None if self.other_shots is None
                else self.other_shots.images_with_partner,
                "own_keys_excluded": self.owners is not None,
                "skipped": [{"file": path, "reason": reason}
                            for path, reason in self.images.skipped],
            }
            (self.out_dir / "data.json").write_text(json.dumps(data_report, indent=2))

    # ------------------------------------------------------------------------------ loop
    def train_step(self, batch: PaddedBatch) -> dict[str, torch.Tensor]:
        """One optimizer step on one batch; returns detached scalars (no host sync)."""
        other_shots = self._other_shot_images(batch)
        batch = batch.to(self.device, non_blocking=True)
        self._seed_augmentation(self.step)
        with torch.no_grad():
            (view1, geometry1), (view2, geometry2) = self.augment.with_geometry(
                batch.images, batch.sizes, self.generator, other_shots)
            local_views = None
            if self.config.augment.local_crops.count:
                local_views = self.augment.local_views(batch.images, batch.sizes, self.generator)
        if self.config.runtime.channels_last:
            view1 = view1.contiguous(memory_format=torch.channels_last)
            view2 = view2.contiguous(memory_format=torch.channels_last)
            if local_views is not None:  # [L, N, C, s, s]: each [N, C, s, s] channels-last
                local_views = local_views.flatten(0, 1).contiguous(
                    memory_format=torch.channels_last).unflatten(0, local_views.shape[:2])
        lr = warmup_cosine(self.step, self.total_steps, self.peak_lr, self.warmup_steps)
        set_learning_rate(self.optimizer, lr)

        inputs: dict[str, Any] = {}
        if self.method.needs_geometry:
            inputs = {"geometry1": geometry1, "geometry2": geometry2}
        if self.method.needs_generator:
            inputs["generator"] = self.generator
        if local_views is not None:
            inputs["local_views"] = local_views
        if self.owners is not None:
            inputs["owners"] = self.owners[batch.indices.to(self.device)]
        with self._autocast():
            output = self.model(view1, view2, **inputs)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(output.loss).backward()
        if self.config.optim.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(
                self.method.parameters(), self.config.optim.clip_grad_norm
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.method.after_optimizer_step(self.step)
        self.step += 1
        loss = output.loss.detach()
        self.nonfinite_streak = torch.where(torch.isfinite(loss), 0, self.nonfinite_streak + 1)
        return {"loss": loss, **output.metrics}

    def run(self) -> PretrainResult:
        if self.resume:
            self._restore()
            if self.rank == 0:
                self.metrics_log.truncate_after(self.step)
        self._write_config()
        self.method.train()
        status: Status = "completed"
        last: dict[str, Any] = {}
        meter = StepMeter()
        batches = self.batches(self.step)
        with _StopSignal() as stop:
            while self.step < self.total_steps:
                started = time.perf_counter()
                meter.add_scalars(self.train_step(next(batches)))
                report_now = (self.step % self.config.runtime.log_every == 0
                              or self.step == self.total_steps)
                means = meter.averages() if report_now else {}  # waits for the device
                meter.add_seconds(time.perf_counter() - started)
                if report_now:
                    self._stop_if_diverged()
                    last = self._report(means, meter)
                    meter.reset_window()
                if self.monitor is not None and (
                    self.step % self.config.eval.every == 0 or self.step == self.total_steps
                ):
                    last["knn"] = self._evaluate()
                if (self.step % self.config.runtime.checkpoint_every == 0
                        and not distributed.any_rank(bool(self.nonfinite_streak))):
                    self.save_checkpoint()  # never weights a NaN loss may have spoilt
                # Under DDP every rank must leave the loop at the same step.
                if distributed.any_rank(stop.received or self.should_cancel()):
                    status = "interrupted" if stop.received else "cancelled"
                    break
        self._stop_if_diverged(finished=status == "completed")
        if not distributed.any_rank(bool(self.nonfinite_streak)):
            self.save_checkpoint(final=status == "completed")
        return PretrainResult(status, self.step, self.total_steps, self.out_dir, last)

    def _stop_if_diverged(self, finished: bool = False) -> None:
        """Raise ``TrainingDiverged`` once the loss has been non-finite for
        ``runtime.max_nonfinite_steps`` steps in a row (checked when progress is reported,
        so within ``log_every`` steps of that) or at the last step, removing the
        checkpoint: nothing of a diverged run can be resumed or registered."""
        streak = int(distributed.max_over_ranks(self.nonfinite_streak))
        limit = 1 if finished else self.config.runtime.max_nonfinite_steps
        if streak < limit:
            return
        if self.rank == 0:
            self.checkpoint_path.unlink(missing_ok=True)
        raise TrainingDiverged(
            f"the loss was NaN or infinite for {streak} steps in a row (up to step "
            f"{self.step}): training diverged; lower optim.base_lr or raise loss.temperature")

    def _report(self, means: dict[str, float], meter: StepMeter) -> dict[str, Any]:
        """Send the averages of the steps since the last report to the log and callbacks."""
        progress = Progress(
            step=self.step,
            total_steps=self.total_steps,
            epoch=self.step / self.steps_per_epoch,
            loss=means.pop("loss"),
            lr=self.optimizer.param_groups[0]["lr"],
            images_per_second=meter.window_steps * self.global_batch
            / max(meter.window_seconds, 1e-9),
            eta_seconds=(self.total_steps - self.step) * meter.seconds_per_step,
            metrics={**means, "momentum": self.method.momentum(self.step)},
        )
        record = progress.as_dict()
        if self.rank == 0:
            self.metrics_log.write(record)
            for callback in self.callbacks:
                callback(progress)
        return record

    def _evaluate(self) -> dict[str, Any]:
        self.method.eval()
        try:
            report = self.monitor.evaluate(self.method.backbone)
        finally:
            self.method.train()
        self.metrics_log.write({"step": self.step, "knn": report})
        return report
