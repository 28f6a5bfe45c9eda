"""``gpo-vae train``: prepare (or reuse) the data, fit GPO-VAE, write the run folder.

A run folder holds ``config.yaml`` (resolved), ``checkpoints/`` (``best.ckpt`` by
validation loss and ``last.ckpt``), CSV logs under ``logs/``, ``training_summary.json``
and ``plots/training_curves.png``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gpo_vae.config import Config, dump_config, with_absolute_inputs
from gpo_vae.errors import ConfigError, GpoVaeError, InputDataError
from gpo_vae.io import write_json_atomic, write_text_atomic
from gpo_vae.memory import peak_memory_gb
from gpo_vae.outputs import mark_output_folder
from gpo_vae.training.checkpoint import BEST, LAST
from gpo_vae.training.run_folder import check_resume_settings, check_split, run_lock, write_split


class TrainingInterrupted(GpoVaeError):
    """The user stopped training (Ctrl-C); the state is saved for ``--resume``."""

    exit_code = 130


@dataclass
class TrainResult:
    """Where a finished run lives and how it went."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    summary: dict
    module: object = None  # the trained GpoVaeModule (weights of the last step)
    adata: object = None   # the prepared AnnData it trained on


def _accelerator(config: Config) -> tuple[str, int | list[int] | str]:
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


def _loggers(config: Config, run_dir: Path):
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(save_dir=str(run_dir), name="logs")]
    if config.logging.wandb:
        try:
            import wandb  # noqa: F401
            from lightning.pytorch.loggers import WandbLogger
        except ImportError:
            raise ConfigError("logging.wandb=true needs the wandb package: pip install wandb") \
                from None
        loggers.append(WandbLogger(
            project=config.logging.wandb_project, name=config.logging.wandb_name or config.name,
            group=config.logging.wandb_group, save_dir=str(run_dir),
            config=config.to_dict()))
    return loggers


def _check_run_dir(checkpoints: Path, resume: bool, config: Config) -> Path | None:
    last = checkpoints / LAST
    if resume:
        if not last.is_file():
            raise ConfigError(f"nothing to resume: {last} does not exist; train without --resume")
        _check_limits_beyond(last, config)
        return last
    if last.is_file() or (checkpoints / BEST).is_file():
        raise ConfigError(f"{checkpoints.parent} already holds a trained run; continue it with "
                          "--resume, or pick another folder with --out or another name")
    return None


def _check_limits_beyond(checkpoint: Path, config: Config) -> None:
    """Resuming needs room to train: the limits must lie beyond the saved epoch and step."""
    from gpo_vae.training.checkpoint import load_checkpoint_dict

    saved = load_checkpoint_dict(checkpoint)
    epoch, step = int(saved.get("epoch", 0)), int(saved.get("global_step", 0))
    t = config.training
    stopped = [state.get("stopped_epoch", 0) for key, state in saved.get("callbacks", {}).items()
               if key.startswith("EarlyStopping") and isinstance(state, dict)]
    if any(stopped):
        # Lightning restores the stopping state (patience included): resuming would stop
        # again at the first validation
        raise ConfigError(
            f"{checkpoint} is from a run that early stopping ended (epoch {max(stopped)}); "
            "resuming would stop at once; start a new run (another --out) instead")
    if t.max_epochs <= epoch or 0 < t.max_steps <= step:
        raise ConfigError(
            f"{checkpoint} is at epoch {epoch}, step {step}, which already reaches "
            f"training.max_epochs={t.max_epochs} / max_steps={t.max_steps}; raise them "
            "to train further")


def _quiet_lightning() -> None:
    """Silence Lightning's advice that does not apply here (workers, GPU tips)."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _saved_position(checkpoint: Path) -> str:
    """The step a checkpoint saved, which training continues after."""
    from gpo_vae.training.checkpoint import load_checkpoint_dict

    step = int(load_checkpoint_dict(checkpoint).get("global_step", 0))
    return f"training continues after step {step}"


@contextlib.contextmanager
def _keep_signal_handlers():
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


def train(config: Config, *, run_dir: str | os.PathLike | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print,
          prepared=None, module=None) -> TrainResult:
    """Train GPO-VAE as ``config`` says and write the run folder.

    Parameters
    ----------
    config
        The run's settings.
    run_dir
        The run folder (default ``output_dir/name``).
    resume
        Continue from ``checkpoints/last.ckpt`` (optimizer state, step and epoch included).
    progress, log
        Progress bars (or one line per epoch in log files) and where messages go.
    prepared
        A prepared AnnData to train on (default: prepare ``data.path``, or read the cache).
    module
        A :class:`~gpo_vae.models.module.GpoVaeModule` built for ``prepared`` to train
        further (default: a new one from ``config``).

    Raises :class:`~gpo_vae.errors.GpoVaeError` subclasses for bad input, a NaN loss, or
    an interruption.
    """
    run_dir = Path(run_dir) if run_dir is not None else config.run_dir
    # the run folder stores absolute input paths: it works from any working directory
    config = with_absolute_inputs(config)
    if not is_primary_process():
        # another rank of a multi-process run (Lightning's ddp launcher runs the same
        # command again): the primary process holds the lock and writes the run folder
        return _train(config, run_dir, resume, False, lambda message: None, prepared, module)
    with run_lock(run_dir, log):
        return _train(config, run_dir, resume, progress, log, prepared, module)


def is_primary_process() -> bool:
    """Whether this process is rank 0 of its run: not a secondary rank started by a
    distributed launcher (Lightning's ddp, torchrun, SLURM's srun), which set these
    variables in every process they start."""
    env = os.environ
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        if int(env.get(key, "0") or 0) != 0:
            return False
    return True


def _train(config: Config, run_dir: Path, resume: bool, progress: bool,
           log: Callable[[str], None], prepared=None, module=None) -> TrainResult:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from gpo_vae.data.datamodule import PerturbationDataModule
    from gpo_vae.models.builder import build_for_prepared
    from gpo_vae.training.callbacks import EpochLines, LastCheckpoint, ThroughputMonitor
    from gpo_vae.training.curves import plot_training_curves
    from gpo_vae.training.diagnostics import VAL_ATE_KEY
    from gpo_vae.training.interrupt import GracefulStop, StopRequested
    from gpo_vae.training.plan import TrainingPlan

    checkpoints = run_dir / "checkpoints"
    ckpt_path = _check_run_dir(checkpoints, resume, config)
    if resume:
        check_resume_settings(run_dir, config.to_dict())
    accelerator, devices = _accelerator(config)
    _quiet_lightning()
    L.seed_everything(config.training.seed, workers=True, verbose=False)

    datamodule = PerturbationDataModule(config, progress=progress, log=log, prepared=prepared)
    datamodule.setup()
    for split in ("train", "val"):
        if len(datamodule.datasets[split]) == 0:
            raise InputDataError(f"the {split} split has no cells; give it a share with "
                                 "data.split_fractions (train, val, test)")
    if resume:
        check_split(run_dir, datamodule.adata, "resume")
    if module is None:
        module = build_for_prepared(config, datamodule.adata)
        if config.guide.prior_network and ckpt_path is None:
            _init_from_prior_network(module, config, module.data_info, log)
    info = module.data_info
    t = config.training
    plan = TrainingPlan(module, lr=t.lr, n_particles=t.n_particles, compile=t.compile,
                        seed=t.seed,
                        lr_overrides={"guide.mask_logits": t.mask_lr or t.lr},
                        hparams={"config": config.to_dict(), "data_info": info.to_dict()})
    primary = is_primary_process()
    if primary:
        mark_output_folder(run_dir, "run", run_dir)
        write_text_atomic(run_dir / "config.yaml", dump_config(config))
        write_split(run_dir, datamodule.adata, datamodule.prepared.manifest.get("key", ""))

    throughput = ThroughputMonitor()
    diagnostics = _diagnostics_callback(datamodule, config, log)
    by_ate = t.checkpoint_monitor == "val_ate"
    if by_ate and diagnostics is None:
        raise InputDataError("training.checkpoint_monitor=val_ate needs validation cells of "
                             "perturbations seen in training, and control cells; use "
                             "checkpoint_monitor=val_loss")
    callbacks = [
        ModelCheckpoint(dirpath=checkpoints, filename="best",
                        monitor=VAL_ATE_KEY if by_ate else "val/loss",
                        mode="max" if by_ate else "min",
                        every_n_epochs=t.diagnostics_every_n_epochs if by_ate else 1,
                        save_top_k=1, save_last=True, auto_insert_metric_name=False,
                        enable_version_counter=False, save_on_train_epoch_end=False),
        # checked after validation only: a run that stops at max_steps mid-epoch has none
        EarlyStopping(monitor="val/loss", mode="min", check_on_train_epoch_end=False,
                      patience=config.training.early_stopping_patience),
        LastCheckpoint(checkpoints / LAST),
        GracefulStop(checkpoints / LAST),
        throughput,
        *([diagnostics] if diagnostics is not None else []),
    ]
    # a progress bar needs a terminal; in log files and pipes one plain line per epoch
    terminal = sys.stdout.isatty()
    if progress and not terminal:
        callbacks.append(EpochLines(throughput))
    trainer = L.Trainer(
        accelerator=accelerator, devices=devices, strategy=t.strategy,
        num_nodes=t.num_nodes, precision=t.precision,
        max_epochs=config.training.max_epochs, max_steps=config.training.max_steps,
        gradient_clip_val=config.training.gradient_clip or None,
        gradient_clip_algorithm="norm", logger=_loggers(config, run_dir), callbacks=callbacks,
        log_every_n_steps=config.training.log_every_n_steps, default_root_dir=str(run_dir),
        enable_progress_bar=progress and config.logging.progress_bar and terminal,
        enable_model_summary=progress and terminal, num_sanity_val_steps=0,
        # the data module shards batches over ranks itself (EpochSeededBatches, RankShare)
        use_distributed_sampler=False,
    )
    log(f"training {config.name}: {info.n_genes:,} genes, {info.n_treatments} treatment "
        f"dimensions, {len(datamodule.datasets['train']):,} training cells on {accelerator}"
        + (f", resuming from {ckpt_path} ({_saved_position(ckpt_path)})" if ckpt_path else ""))
    start = time.perf_counter()
    try:
        with _keep_signal_handlers():
            trainer.fit(plan, datamodule=datamodule, ckpt_path=ckpt_path)
    except StopRequested as stop:
        raise TrainingInterrupted(
            f"training stopped by {stop.signal_name} after step {stop.step}; the same command "
            f"with --resume continues from step {stop.step} (state in "
            f"{checkpoints / LAST})") from None
    except SystemExit:  # a second Ctrl-C: Lightning stops at once and calls sys.exit(1)
        where = _saved_position(checkpoints / LAST) if (checkpoints / LAST).is_file() \
            else "nothing saved yet"
        raise TrainingInterrupted(
            f"training stopped at once by a second interrupt; --resume continues from the "
            f"last saved state ({where})") from None
    finally:
        if trainer.is_global_zero:
            plot_training_curves(run_dir)
    best = callbacks[0].best_model_path
    summary = {
        "name": config.name, "accelerator": accelerator,
        "steps": int(trainer.global_step), "epochs": int(trainer.current_epoch),
        "checkpoint_monitor": t.checkpoint_monitor,
        "best_val_loss": None if by_ate else _float(callbacks[0].best_model_score),
        "best_val_ate_pearson_top20": _float(callbacks[0].best_model_score) if by_ate else None,
        "best_checkpoint": best or None, "last_checkpoint": str(checkpoints / LAST),
        "train_cells_per_second": round(throughput.cells_per_second, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_memory_gb": peak_memory_gb(),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if accelerator == "gpu" else None,
        "stopped_early": bool(callbacks[1].stopped_epoch),
    }
    if not trainer.is_global_zero:  # the primary process writes the run folder
        return TrainResult(run_dir, Path(best) if best else None, checkpoints / LAST, summary,
                           module, datamodule.adata)
    summary["world_size"] = trainer.world_size
    write_json_atomic(run_dir / "training_summary.json", summary)
    log(f"done: {summary['steps']} steps, {summary['epochs']} epochs in "
        f"{summary['wall_seconds']} s ({summary['train_cells_per_second']:,} cells/s, peak "
        f"{summary['peak_memory_gb']} GB); best {t.checkpoint_monitor.replace('_', ' ')} "
        f"{_float(callbacks[0].best_model_score)}")
    log(f"run folder: {run_dir}")
    return TrainResult(run_dir, Path(best) if best else None, checkpoints / LAST, summary,
                       module, datamodule.adata)


def _diagnostics_callback(datamodule, config: Config, log):
    """The learning-diagnostics callback, or None when turned off or not computable."""
    from gpo_vae.training.diagnostics import DiagnosticsData, LearningDiagnosticsCallback

    every = config.training.diagnostics_every_n_epochs
    if every == 0:
        return None
    data = DiagnosticsData.from_prepared(datamodule.adata, "val", seed=config.training.seed)
    if data is None:
        log("learning diagnostics off: the validation split has no scorable perturbation")
        return None
    return LearningDiagnosticsCallback(data, every, seed=config.training.seed)


def _float(value) -> float | None:
    return None if value is None else round(float(value), 4)


def _init_from_prior_network(module, config: Config, info, log) -> None:
    from gpo_vae.models.builder import mask_init_logit
    from gpo_vae.models.prior_network import prior_mask_logits

    logits, n_edges = prior_mask_logits(
        config.guide.prior_network, info.treatment_names, base_logit=mask_init_logit(config),
        edge_probability=config.guide.prior_network_init)
    with torch.no_grad():
        module.guide.mask_logits.copy_(torch.from_numpy(logits))
    log(f"q(M) initialised from {config.guide.prior_network}: {n_edges} known edges")


def read_summary(run_dir: Path) -> dict:
    """The ``training_summary.json`` of a finished run."""
    return json.loads((Path(run_dir) / "training_summary.json").read_text())
