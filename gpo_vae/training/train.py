"""``gpo-vae train``: prepare (or reuse) the data, fit GPO-VAE, write the run folder.

A run folder holds ``config.yaml`` (resolved), ``checkpoints/`` (``best.ckpt`` by
validation loss and ``last.ckpt``), CSV logs under ``logs/``, ``training_summary.json``
and ``plots/training_curves.png``.
"""

from __future__ import annotations

import json
import logging
import os
import time
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
from gpo_vae.training.trainer import (
    Callbacks,
    DiagnosticsFactory,
    accelerator_and_devices,
    keep_signal_handlers,
    make_trainer,
    quiet_lightning,
)

logger = logging.getLogger(__name__)


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


def _check_run_dir(checkpoints: Path, resume: bool, config: Config) -> Path | None:
    last = checkpoints / LAST
    if resume:
        if not last.is_file():
            raise ConfigError(f"nothing to resume: {last} does not exist; train without "
                              "resume=True")
        _check_limits_beyond(last, config)
        return last
    if last.is_file() or (checkpoints / BEST).is_file():
        raise ConfigError(f"{checkpoints.parent} already holds a trained run; continue it with "
                          "resume=True, or train into another folder (run_dir=DIR) or under "
                          "another name")
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
            "resuming would stop at once; start a new run (another run_dir=DIR) instead")
    if t.max_epochs <= epoch or 0 < t.max_steps <= step:
        raise ConfigError(
            f"{checkpoint} is at epoch {epoch}, step {step}, which already reaches "
            f"training.max_epochs={t.max_epochs} / max_steps={t.max_steps}; raise them "
            "to train further")


def _saved_position(checkpoint: Path) -> str:
    """The step a checkpoint saved, which training continues after."""
    from gpo_vae.training.checkpoint import load_checkpoint_dict

    step = int(load_checkpoint_dict(checkpoint).get("global_step", 0))
    return f"training continues after step {step}"


def train(config: Config, *, run_dir: str | os.PathLike | None = None, resume: bool = False,
          prepared=None, module=None,
          diagnostics: DiagnosticsFactory | None = None) -> TrainResult:
    """Train GPO-VAE as ``config`` says and write the run folder.

    Parameters
    ----------
    config
        The run's settings.
    run_dir
        The run folder (default ``output_dir/name``).
    resume
        Continue from ``checkpoints/last.ckpt`` (optimizer state, step and epoch included).
    prepared
        A prepared AnnData to train on (default: prepare ``data.path``, or read the cache).
    module
        A :class:`~gpo_vae.models.module.GpoVaeModule` built for ``prepared`` to train
        further (default: a new one from ``config``).
    diagnostics
        Builds the learning-diagnostics callback (``diag/...`` metrics every
        ``training.diagnostics_every_n_epochs``; needed by
        ``training.checkpoint_monitor=val_ate``); None: no diagnostics. The API and the
        command line pass :func:`gpo_vae.evaluation.diagnostics.diagnostics_callback`.

    Raises :class:`~gpo_vae.errors.GpoVaeError` subclasses for bad input, a NaN loss, or
    an interruption.
    """
    run_dir = Path(run_dir) if run_dir is not None else config.run_dir
    # the run folder stores absolute input paths: it works from any working directory
    config = with_absolute_inputs(config)
    if not is_primary_process():
        # another rank of a multi-process run (Lightning's ddp launcher runs the same
        # command again): the primary process holds the lock and writes the run folder
        return _train(config, run_dir, resume, prepared, module, diagnostics)
    with run_lock(run_dir):
        return _train(config, run_dir, resume, prepared, module, diagnostics)


def fit_best(config: Config, prepared, *, module=None, run_dir: str | os.PathLike | None = None,
             diagnostics: DiagnosticsFactory | None = None):
    """Train on ``prepared`` and return the module holding its best checkpoint's weights,
    in eval mode, with the run's logged metrics (read before a temporary folder goes).

    Without ``run_dir`` the run folder is temporary. One home for what
    :meth:`gpo_vae.GpoVae.train` and the GRN stability bootstraps both need.
    """
    import tempfile

    from gpo_vae.training.checkpoint import load_checkpoint_dict, module_state
    from gpo_vae.training.curves import read_log

    with tempfile.TemporaryDirectory(prefix="gpo_vae_") as scratch:
        folder = Path(run_dir) if run_dir is not None else Path(scratch) / "run"
        result = train(config, run_dir=folder, prepared=prepared,
                       module=module, diagnostics=diagnostics)
        best = result.best_checkpoint or result.last_checkpoint
        result.module.load_state_dict(module_state(load_checkpoint_dict(best)))
        metrics = read_log(folder)
    result.module.eval()
    return result.module, metrics


def is_primary_process() -> bool:
    """Whether this process is rank 0 of its run: not a secondary rank started by a
    distributed launcher (Lightning's ddp, torchrun, SLURM's srun), which set these
    variables in every process they start."""
    env = os.environ
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        if int(env.get(key, "0") or 0) != 0:
            return False
    return True


def _train(config: Config, run_dir: Path, resume: bool, prepared=None, module=None,
           diagnostics: DiagnosticsFactory | None = None) -> TrainResult:
    """Set up, fit and summarise one run (the steps below, in order)."""
    import lightning as L

    checkpoints = run_dir / "checkpoints"
    ckpt_path = _check_run_dir(checkpoints, resume, config)
    if resume:
        check_resume_settings(run_dir, config.to_dict())
    accelerator, devices = accelerator_and_devices(config)
    quiet_lightning()
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    datamodule = _data(config, run_dir, resume, prepared)
    if module is None:
        module = _new_module(config, datamodule.adata, fresh=ckpt_path is None)
    plan = _plan(config, module)
    # every check before the first write: a refused run leaves its folder as it was
    callbacks = Callbacks.build(config, checkpoints, datamodule.adata, diagnostics)
    if is_primary_process():
        mark_output_folder(run_dir, "run", run_dir)
        write_text_atomic(run_dir / "config.yaml", dump_config(config))
        write_split(run_dir, datamodule.adata, datamodule.prepared.manifest.get("key", ""))
    trainer = make_trainer(config, run_dir, accelerator, devices, callbacks.all)
    info = module.data_info
    logger.info(
        f"training {config.name}: {info.n_genes:,} genes, {info.n_treatments} treatment "
        f"dimensions, {len(datamodule.datasets['train']):,} training cells on {accelerator}"
        + (f", resuming from {ckpt_path} ({_saved_position(ckpt_path)})" if ckpt_path else ""))
    start = time.perf_counter()
    _fit(trainer, plan, datamodule, ckpt_path, run_dir)
    summary = _summary(config, trainer, callbacks, accelerator, time.perf_counter() - start,
                       checkpoints)
    best = callbacks.best.best_model_path
    result = TrainResult(run_dir, Path(best) if best else None, checkpoints / LAST, summary,
                         module, datamodule.adata)
    if trainer.is_global_zero:  # the primary process writes the run folder
        _write_summary(run_dir, summary, trainer, config, callbacks)
    return result


def _data(config: Config, run_dir: Path, resume: bool, prepared):
    """The run's data module, set up, with non-empty train and val splits."""
    from gpo_vae.data.datamodule import PerturbationDataModule

    datamodule = PerturbationDataModule(config, prepared=prepared)
    datamodule.setup()
    for split in ("train", "val"):
        if len(datamodule.datasets[split]) == 0:
            raise InputDataError(f"the {split} split has no cells; give it a share with "
                                 "data.split_fractions (train, val, test)")
    if resume:
        check_split(run_dir, datamodule.adata, "resume")
    return datamodule


def _new_module(config: Config, adata, *, fresh: bool):
    """A module built for ``adata``; a fresh run starts from the prior network if given."""
    from gpo_vae.models.builder import build_for_prepared

    module = build_for_prepared(config, adata)
    if config.guide.prior_network and fresh:
        _init_from_prior_network(module, config, module.data_info)
    return module


def _plan(config: Config, module):
    from gpo_vae.training.plan import TrainingPlan

    t = config.training
    return TrainingPlan(module, lr=t.lr, n_particles=t.n_particles, compile=t.compile,
                        seed=t.seed, lr_overrides={"guide.mask_logits": t.mask_lr or t.lr},
                        hparams={"config": config.to_dict(),
                                 "data_info": module.data_info.to_dict()})


def _fit(trainer, plan, datamodule, ckpt_path: Path | None, run_dir: Path) -> None:
    """``trainer.fit``, with interruptions turned into :class:`TrainingInterrupted`; the
    training curves are drawn however it ends."""
    from gpo_vae.training.curves import plot_training_curves
    from gpo_vae.training.interrupt import StopRequested

    last = run_dir / "checkpoints" / LAST
    try:
        with keep_signal_handlers():
            trainer.fit(plan, datamodule=datamodule, ckpt_path=ckpt_path)
    except StopRequested as stop:
        raise TrainingInterrupted(
            f"training stopped by {stop.signal_name} after step {stop.step}; the same command "
            f"with resume=True continues from step {stop.step} (state in {last})") from None
    except SystemExit:  # a second Ctrl-C: Lightning stops at once and calls sys.exit(1)
        where = _saved_position(last) if last.is_file() else "nothing saved yet"
        raise TrainingInterrupted(
            f"training stopped at once by a second interrupt; resume=True continues from the "
            f"last saved state ({where})") from None
    finally:
        if trainer.is_global_zero:
            plot_training_curves(run_dir)


def _summary(config: Config, trainer, callbacks: Callbacks, accelerator: str,
             seconds: float, checkpoints: Path) -> dict:
    t = config.training
    by_ate = t.checkpoint_monitor == "val_ate"
    best = callbacks.best
    return {
        "name": config.name, "accelerator": accelerator,
        "steps": int(trainer.global_step), "epochs": int(trainer.current_epoch),
        "checkpoint_monitor": t.checkpoint_monitor,
        "best_val_loss": None if by_ate else _float(best.best_model_score),
        "best_val_ate_pearson_top20": _float(best.best_model_score) if by_ate else None,
        "best_checkpoint": best.best_model_path or None,
        "last_checkpoint": str(checkpoints / LAST),
        "train_cells_per_second": round(callbacks.throughput.cells_per_second, 1),
        "wall_seconds": round(seconds, 1),
        "peak_memory_gb": peak_memory_gb(),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if accelerator == "gpu" else None,
        "stopped_early": bool(callbacks.early_stopping.stopped_epoch),
    }


def _write_summary(run_dir: Path, summary: dict, trainer, config: Config,
                   callbacks: Callbacks) -> None:
    summary["world_size"] = trainer.world_size
    write_json_atomic(run_dir / "training_summary.json", summary)
    logger.info(f"done: {summary['steps']} steps, {summary['epochs']} epochs in "
        f"{summary['wall_seconds']} s ({summary['train_cells_per_second']:,} cells/s, peak "
        f"{summary['peak_memory_gb']} GB); best "
        f"{config.training.checkpoint_monitor.replace('_', ' ')} "
        f"{_float(callbacks.best.best_model_score)}")
    logger.info(f"run folder: {run_dir}")


def _float(value) -> float | None:
    return None if value is None else round(float(value), 4)


def _init_from_prior_network(module, config: Config, info) -> None:
    from gpo_vae.models.builder import mask_init_logit
    from gpo_vae.models.prior_network import prior_mask_logits

    logits, n_edges = prior_mask_logits(
        config.guide.prior_network, info.treatment_names, base_logit=mask_init_logit(config),
        edge_probability=config.guide.prior_network_init)
    with torch.no_grad():
        module.guide.mask_logits.copy_(torch.from_numpy(logits))
    logger.info(f"q(M) initialised from {config.guide.prior_network}: {n_edges} known edges")


def read_summary(run_dir: Path) -> dict:
    """The ``training_summary.json`` of a finished run."""
    return json.loads((Path(run_dir) / "training_summary.json").read_text())
