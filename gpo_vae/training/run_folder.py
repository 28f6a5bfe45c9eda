"""A run folder's integrity: one writer at a time, the split it trained on, and resumes
that keep the run's data and model.

- ``.lock`` holds the pid and host of the process writing the folder; a second writer is
  refused, and a lock whose process is gone (stale) is taken over.
- ``split.json`` records the prepared-data key and the cell ids of each split, so
  evaluation and ``--resume`` can check that they see the same cells (a rewritten input
  file is prepared again and would otherwise get a new random split).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gpo_vae.config import INPUT_PATH_KEYS, absolute_path, read_yaml
from gpo_vae.constants import OBS_CELL_ID, OBS_SPLIT, SPLITS
from gpo_vae.errors import ConfigError, InputDataError, InputFileError
from gpo_vae.io import check_name_length, process_alive, read_json, write_json_atomic
from gpo_vae.training.checkpoint import upgrade_config

logger = logging.getLogger(__name__)

LOCK, SPLIT = ".lock", "split.json"
# What --resume may change: the limits, where and how fast it runs (hardware, and the
# batch size that goes with the device count), logging and file locations. Every other
# training setting is either restored from the checkpoint and so silently ignored (lr and
# mask_lr live in the optimizer state, early_stopping_patience and checkpoint_monitor in
# the callbacks' state: config.yaml then claimed values the run never used) or makes the
# resumed run another experiment (seed, n_particles, gradient_clip).
_RESUMABLE_SECTIONS = ("logging",)
_RESUMABLE_KEYS = {"name", "output_dir", "data.batch_size", "data.num_workers",
                   "data.cache_dir", "data.backend", "data.path", "data.summary_stats",
                   "training.max_epochs", "training.max_steps", "training.accelerator",
                   "training.devices", "training.strategy", "training.num_nodes",
                   "training.precision", "training.compile", "training.log_every_n_steps",
                   "training.diagnostics_every_n_epochs"}


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` while the block runs; refuse when another live process
    holds it. The lock is removed on exit, also after an error."""
    run_dir = check_name_length(run_dir, "run folder")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                holder = {}
            pid, host = holder.get("pid"), holder.get("host")
            if isinstance(pid, int) and (host != me["host"] or process_alive(pid)):
                where = "" if host == me["host"] else f" on {host}"
                raise ConfigError(
                    f"run folder {str(run_dir)!r} is in use by process {pid}{where}; wait for "
                    "it to finish or train into another folder (run_dir=DIR)") from None
            logger.info(f"removing a stale lock of process {pid} in {run_dir}")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        if created and not any(run_dir.iterdir()):  # a run that failed before writing
            run_dir.rmdir()


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def check_resume_settings(run_dir: Path, new: dict) -> None:
    """Refuse to resume with a data, model, guide, loss or optimisation setting that
    differs from the run's ``config.yaml`` (the checkpoint would not fit, the setting
    would be silently ignored, or the run would silently become another experiment);
    :data:`_RESUMABLE_KEYS` may change."""
    saved_file = Path(run_dir) / "config.yaml"
    if not saved_file.is_file():
        return
    saved = read_yaml(saved_file, "the run's config file") or {}
    if not isinstance(saved, dict):
        raise ConfigError(f"the run's config file {str(saved_file)!r} must hold a mapping of "
                          "keys to values; restore it from a backup or train a new run")
    saved = _flatten(upgrade_config(saved))
    for key, value in _flatten(new).items():
        if key.split(".")[0] in _RESUMABLE_SECTIONS or key in _RESUMABLE_KEYS:
            continue
        if key in INPUT_PATH_KEYS and key in saved:
            # older runs stored these as given (relative to where they were trained)
            value, saved[key] = absolute_path(value), absolute_path(saved[key])
        if key in saved and saved[key] != value:
            raise ConfigError(
                f"resume=True with {key}={value!r}, but the run was trained with "
                f"{key}={saved[key]!r}; resume with the run's settings or train a new run "
                "into another folder (run_dir=DIR)")


def split_record(adata, key: str) -> dict:
    """The prepared-data key and the cell ids of every split of ``adata``."""
    ids = adata.obs[OBS_CELL_ID].astype(str).to_numpy()
    split = adata.obs[OBS_SPLIT].astype(str).to_numpy()
    return {"prepared_key": key,
            "cells": {name: ids[split == name].tolist() for name in SPLITS}}


def write_split(run_dir: Path, adata, key: str) -> Path:
    """Record the run's split (``split.json``)."""
    return write_json_atomic(Path(run_dir) / SPLIT, split_record(adata, key))


def check_split(run_dir: Path, adata, what: str) -> None:
    """Stop with a one-line error when ``adata``'s splits are not the cells the run was
    trained with (nothing to check for runs without ``split.json``)."""
    path = Path(run_dir) / SPLIT
    if not path.is_file():
        return
    record = read_json(path, "the run's split record",
                       "restore it from a backup, or delete it to skip this check")
    stored = record.get("cells") if isinstance(record, dict) else None
    if not isinstance(stored, dict):
        raise InputFileError(f"the run's split record {str(path)!r} has no 'cells' mapping; "
                             "restore it from a backup, or delete it to skip this check")
    current = split_record(adata, "")["cells"]
    for name in SPLITS:
        if not np.array_equal(np.sort(np.asarray(stored.get(name, []), dtype=str)),
                              np.sort(np.asarray(current[name], dtype=str))):
            raise InputDataError(
                f"the {name} cells of the prepared data differ from those run "
                f"{str(run_dir)!r} was trained with (the input file or its cell order "
                f"changed since training); {what} with the original input file, or train "
                "a new run")


def save_run_folder(run_dir: Path, module, config, adata=None, *, force: bool = False) -> Path:
    """Write a run folder from a model in memory (the Python API's ``save``):
    ``config.yaml``, ``checkpoints/best.ckpt`` and, given the data, ``split.json``.
    Refuses a folder that already holds a trained run, or files of something else
    (:mod:`gpo_vae.outputs`)."""
    from gpo_vae.config import dump_config, with_absolute_inputs
    from gpo_vae.io import write_text_atomic
    from gpo_vae.outputs import check_output_folder, mark_output_folder
    from gpo_vae.training.checkpoint import BEST, LAST, save_module_checkpoint

    run_dir = check_output_folder(run_dir, "run", run_dir, what="the run folder", force=force)
    checkpoints = run_dir / "checkpoints"
    if (checkpoints / BEST).exists() or (checkpoints / LAST).exists():
        raise ConfigError(f"{run_dir} already holds a trained run; save into a new folder")
    with run_lock(run_dir):
        mark_output_folder(run_dir, "run", run_dir)
        checkpoints.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", dump_config(with_absolute_inputs(config)))
        if adata is not None:
            write_split(run_dir, adata, "")
        # the checkpoint last: a folder with a checkpoint is a complete run
        save_module_checkpoint(module, checkpoints / BEST)
    return run_dir
