"""Callbacks: training throughput, and a last checkpoint that survives interruptions."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L

from gpo_vae.progress import logger as progress_logger


class ThroughputMonitor(L.Callback):
    """Cells per second in training steps (validation excluded), logged per epoch.

    Lightning's own ThroughputMonitor logs per-step rates; here the run summary needs
    one number for the whole run, so the totals are kept.
    """

    def __init__(self):
        self.cells = 0
        self.seconds = 0.0
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self._start
        self.cells += int(batch["counts"].shape[0])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.seconds > 0:
            # summed over the ranks of a data-parallel run: the run's throughput
            pl_module.log("train/cells_per_s", self.cells_per_second, on_epoch=True,
                          sync_dist=trainer.world_size > 1, reduce_fx="sum")

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds > 0 else 0.0


class LastCheckpoint(L.Callback):
    """Write ``last.ckpt`` when training ends (also mid-epoch, at ``max_steps``), so
    ``--resume`` continues from there (an interruption is saved by
    :class:`~gpo_vae.training.interrupt.GracefulStop`). A NaN loss writes nothing: the
    previous ``last.ckpt`` is the last good state."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._saved_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # max_steps reached inside an epoch: save before Lightning closes the epoch, so the
        # checkpoint says "mid-epoch" and a resume with a higher limit finishes this epoch
        # (saved after the epoch's end, the resume would skip the epoch's other batches)
        if 0 < trainer.max_steps <= trainer.global_step and \
                not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            trainer.save_checkpoint(self.path, weights_only=False)
            self._saved_step = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self._saved_step != trainer.global_step:
            trainer.save_checkpoint(self.path, weights_only=False)


class EpochLines(L.Callback):
    """One plain line per epoch (epoch, losses, cells/s, time left) for log files and
    pipes, where a progress bar would never flush; used when stdout is not a terminal.
    The lines are progress (logger ``gpo_vae.progress``: stderr from the command line)."""

    def __init__(self, throughput: ThroughputMonitor):
        self.throughput = throughput
        self._start = 0.0
        self._first_epoch = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        parts = [f"epoch {epoch}/{total}"]
        for key, label in (("train/loss_epoch", "train loss"), ("val/loss", "val loss")):
            if key in metrics:
                parts.append(f"{label} {float(metrics[key]):.2f}")
        parts.append(f"{self.throughput.cells_per_second:,.0f} cells/s")
        done = epoch - self._first_epoch
        if done > 0 and total and total > 0:
            left = (time.perf_counter() - self._start) / done * max(total - epoch, 0)
            parts.append(f"{left / 60:.1f} min left")
        progress_logger.info(", ".join(parts))
