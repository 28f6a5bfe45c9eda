"""The Lightning pieces of a run: accelerator, loggers, callbacks and the trainer.

:func:`gpo_vae.training.train.train` composes them; each is small enough to read alone.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gpo_vae.config import Config
from gpo_vae.constants import VAL_ATE_KEY
from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.progress import showing_progress
from gpo_vae.training.checkpoint import LAST

#: Builds the learning-diagnostics callback of a run from its prepared data and its
#: config, or returns None when they cannot be computed
#: (:func:`gpo_vae.evaluation.diagnostics.diagnostics_callback`). Training takes it from
#: its caller: scoring predictions belongs to evaluation, a layer above this one.
DiagnosticsFactory = Callable[[object, Config], object]


def accelerator_and_devices(config: Config) -> tuple[str, int | list[int] | str]:
    """Lightning accelerator and devices; a GPU request without a GPU is an error, a list
    of GPU ids (the authors' ``devices: [4]``) on a CPU-only machine falls back to CPU."""
    accelerator, devices = config.training.accelerator, config.training.devices
    has_gpu = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not has_gpu:
        raise ConfigError(f"training.accelerator={accelerator} but no CUDA GPU is visible; "
                          "use training.accelerator=auto or cpu")
    if accelerator == "auto":
        accelerator = "gpu" if has_gpu else "cpu"
    if accelerator == "cpu" and devices != "auto" and not isinstance(devices, int):
        devices = 1
    return accelerator, devices


#: Ids of the W&B runs that trainings of this process opened. ``train`` leaves its run
#: open (a sweep trial writes its validation summary into it, then closes it); a later
#: training must not log into it, while a run someone else opened (a W&B sweep agent's)
#: is the one to log into.
_OPENED_WANDB_RUNS: set[str] = set()


def loggers(config: Config, run_dir: Path):
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(save_dir=str(run_dir), name="logs")]
    if config.logging.wandb:
        try:
            import wandb
            from lightning.pytorch.loggers import WandbLogger
        except ImportError:
            raise ConfigError("logging.wandb=true needs the wandb package: pip install wandb") \
                from None
        if wandb.run is not None and wandb.run.id in _OPENED_WANDB_RUNS:
            wandb.finish()      # an earlier training's run: this one gets its own
        wandb_logger = WandbLogger(
            project=config.logging.wandb_project, name=config.logging.wandb_name or config.name,
            group=config.logging.wandb_group, save_dir=str(run_dir),
            config=config.to_dict())
        if wandb.run is None:   # the logger opens its run on first use: remember it
            _OPENED_WANDB_RUNS.add(wandb_logger.experiment.id)
        loggers.append(wandb_logger)
    return loggers


def quiet_lightning() -> None:
    """Silence Lightning's advice that does not apply here (workers, GPU tips)."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


@contextlib.contextmanager
def keep_signal_handlers():
    """Put back the SIGINT / SIGTERM handlers after ``fit``: Lightning leaves Ctrl-C
    ignored after an interrupt, which would make a notebook's next cell unstoppable."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@dataclass
class Callbacks:
    """The run's Lightning callbacks, by name (the summary reads the checkpoint and
    early-stopping ones)."""

    best: object
    early_stopping: object
    throughput: object
    all: list

    @classmethod
    def build(cls, config: Config, checkpoints: Path, adata, diagnostics) -> Callbacks:
        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

        from gpo_vae.training.callbacks import EpochLines, LastCheckpoint, ThroughputMonitor
        from gpo_vae.training.interrupt import GracefulStop

        t = config.training
        by_ate = t.checkpoint_monitor == "val_ate"
        diag = diagnostics_of(diagnostics, adata, config)
        if by_ate and diag is None:
            raise InputDataError("training.checkpoint_monitor=val_ate needs the learning "
                                 "diagnostics: validation cells of perturbations seen in "
                                 "training, and control cells; use checkpoint_monitor=val_loss")
        best = ModelCheckpoint(dirpath=checkpoints, filename="best",
                               monitor=VAL_ATE_KEY if by_ate else "val/loss",
                               mode="max" if by_ate else "min",
                               every_n_epochs=t.diagnostics_every_n_epochs if by_ate else 1,
                               save_top_k=1, save_last=True, auto_insert_metric_name=False,
                               enable_version_counter=False, save_on_train_epoch_end=False)
        # checked after validation only: a run that stops at max_steps mid-epoch has none
        early = EarlyStopping(monitor="val/loss", mode="min", check_on_train_epoch_end=False,
                              patience=t.early_stopping_patience)
        throughput = ThroughputMonitor()
        every = [best, early, LastCheckpoint(checkpoints / LAST),
                 GracefulStop(checkpoints / LAST), throughput,
                 *([diag] if diag is not None else [])]
        # a progress bar needs a terminal; in log files and pipes one plain line per epoch
        if showing_progress() and not sys.stdout.isatty():
            every.append(EpochLines(throughput))
        return cls(best, early, throughput, every)


def diagnostics_of(factory: DiagnosticsFactory | None, adata, config: Config):
    """The diagnostics callback, or None when turned off, not given or not computable."""
    if factory is None or config.training.diagnostics_every_n_epochs == 0:
        return None
    return factory(adata, config)


def make_trainer(config: Config, run_dir: Path, accelerator: str, devices, callbacks: list):
    import lightning as L

    t = config.training
    terminal = sys.stdout.isatty()
    return L.Trainer(
        accelerator=accelerator, devices=devices, strategy=t.strategy,
        num_nodes=t.num_nodes, precision=t.precision,
        max_epochs=t.max_epochs, max_steps=t.max_steps,
        gradient_clip_val=t.gradient_clip or None,
        gradient_clip_algorithm="norm", logger=loggers(config, run_dir), callbacks=callbacks,
        log_every_n_steps=t.log_every_n_steps, default_root_dir=str(run_dir),
        enable_progress_bar=showing_progress() and config.logging.progress_bar and terminal,
        enable_model_summary=showing_progress() and terminal, num_sanity_val_steps=0,
        # the data module shards batches over ranks itself (EpochSeededBatches, RankShare)
        use_distributed_sampler=False,
    )
