"""Stop training on SIGINT / SIGTERM at a step boundary, so that ``--resume`` is exact.

A signal only sets a flag; the running step finishes, and at the end of that step the
state is saved to ``last.ckpt`` and training stops. The saved state is then exactly
that of an uninterrupted run after the same step: weights, optimizer, step and epoch
counters, the batch position inside the epoch (:class:`~gpo_vae.data.datamodule.
ResumableLoader`), and the random stream, which is seeded from (seed, step)
(:class:`~gpo_vae.training.plan.TrainingPlan`). Stopping inside a step (Python's default
``KeyboardInterrupt``) could save a half-applied optimizer step.

The last batch of an epoch is followed by validation and the epoch's checkpoint; a
signal there stops after the next step, so the resumed run does not skip a validation.
A second signal stops at once (the previous ``last.ckpt`` stays the resumable state).
Written here because Lightning's own SIGTERM handling stops only after validation and
treats Ctrl-C as a ``KeyboardInterrupt`` anywhere in a step.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import lightning as L

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):  # noqa: N818 (a request, not an error)
    """Raised at a step boundary after a signal; the state of ``step`` is saved."""

    def __init__(self, step: int, signal_name: str):
        super().__init__(f"{signal_name} at step {step}")
        self.step, self.signal_name = step, signal_name


class GracefulStop(L.Callback):
    """Turn SIGINT / SIGTERM during ``fit`` into a stop at the end of the running step,
    with ``last.ckpt`` written there (single-process runs; under data parallelism
    Lightning's own SIGTERM handling is left in place)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.received: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # a second signal: stop now
            self._restore()
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.world_size > 1 or threading.current_thread() is not threading.main_thread():
            return
        for sig in _SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.received is None:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # validation and the epoch's checkpoint first; stop after the next step
        trainer.save_checkpoint(self.path, weights_only=False)
        raise StopRequested(trainer.global_step, self.received)

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._restore()
