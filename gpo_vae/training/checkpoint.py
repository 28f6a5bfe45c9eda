"""Find and load a trained run: a run folder (best, else last checkpoint) or a .ckpt file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

from gpo_vae.errors import InputFileError

BEST, LAST = "best.ckpt", "last.ckpt"


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint a run folder or file names: ``checkpoints/best.ckpt`` (best by
    validation loss), else ``checkpoints/last.ckpt``, or the file itself."""
    p = Path(path)
    if p.is_dir():
        for folder in (p / "checkpoints", p):
            for name in (BEST, LAST):
                if (folder / name).is_file():
                    return folder / name
        raise InputFileError(f"{str(p)!r} holds no checkpoints (checkpoints/best.ckpt or "
                             "last.ckpt); train it first with gpo-vae train")
    if not p.is_file():
        raise InputFileError(f"{str(p)!r} not found; give a run folder or a .ckpt file")
    return p


def run_folder_of(checkpoint: str | os.PathLike) -> Path:
    """The run folder a checkpoint file belongs to (``<run>/checkpoints/x.ckpt`` or a
    checkpoint saved straight into a folder)."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" \
        else checkpoint.parent


_LOAD_ERRORS = (RuntimeError, EOFError, KeyError, TypeError, ValueError,
                pickle.UnpicklingError, zipfile.BadZipFile)


def _load_reason(exc: Exception) -> str:
    """What went wrong in a failed ``torch.load``, in a few words: the unpickler's own
    error when torch wraps it in its weights_only advice (whose first line is about
    PyTorch 2.6, cut mid-word before), else the first sentence."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1]
        text = next((line for line in after.splitlines() if line.strip()), "")
    words = " ".join(text.split())
    sentence = words.split(". ", 1)[0].rstrip(".")
    if len(sentence) > 120:
        sentence = sentence[:120].rsplit(" ", 1)[0] + " ..."
    return sentence or type(exc).__name__


def _corrupt(ckpt: Path, exc: Exception) -> InputFileError:
    reason = _load_reason(exc)
    return InputFileError(f"checkpoint {str(ckpt)!r} is corrupt or not a gpo-vae "
                          f"checkpoint ({reason}); use another one or train again")


def load_checkpoint_dict(path: str | os.PathLike) -> dict:
    """The raw checkpoint dictionary (tensors on CPU; no code is unpickled)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as exc:
        raise _corrupt(Path(path), exc) from None


def module_from_checkpoint(checkpoint: dict):
    """Rebuild the :class:`~gpo_vae.models.module.GpoVaeModule` a checkpoint dictionary
    holds (its settings from ``hyper_parameters``, its weights and data statistics from
    ``state_dict``)."""
    from gpo_vae.config import config_from_dict
    from gpo_vae.models.builder import DataInfo, build_gpo_vae

    hparams = checkpoint["hyper_parameters"]
    config = config_from_dict(upgrade_config(hparams["config"]))
    state = module_state(checkpoint)
    info = DataInfo(**hparams["data_info"])
    conditions = state.get("loss_fn.consistency.dosages")
    if conditions is not None and conditions.shape[0] and "n_conditions" not in info.extra:
        info.extra["n_conditions"] = int(conditions.shape[0])  # older checkpoints lack it
    module = build_gpo_vae(config, info)
    module.load_state_dict(state)
    return module


def upgrade_config(values: dict) -> dict:
    """A checkpoint's stored settings as today's defaults would read them: settings added
    since it was written get the value that reproduces the model it holds (a run from
    before ``loss.alignment`` existed used the authors' alignment, whatever the variant)."""
    loss = values.get("loss", {})
    if "alignment" not in loss:
        values = {**values, "loss": {**loss, "alignment": "authors"}}
    model = values.get("model", {})
    if "gene_features" not in model:  # before gene features: one free row per gene
        values = {**values, "model": {**model, "gene_features": "none"}}
    model = values["model"] if "model" in values else {}
    if "linear_response" not in model:  # before the fitted direct shifts: the latent
        # feature map and the own gene alone
        values = {**values, "model": {**model, "linear_response": False,
                                      "downstream_genes": 0}}
    loss = values["loss"] if "loss" in values else {}
    if "knockdown_shrinkage" not in loss:  # before it: targets were the raw shifts
        values = {**values, "loss": {**loss, "knockdown_shrinkage": False}}
    loss = values["loss"] if "loss" in values else {}
    if "additive_shrinkage" not in loss:  # before it: combinations kept their raw shifts
        values = {**values, "loss": {**loss, "additive_shrinkage": False}}
    return values


def module_state(checkpoint: dict) -> dict:
    """The module's state dict inside a checkpoint (whose keys start ``module.``)."""
    from gpo_vae.training.plan import upgrade_state_dict

    return {k.removeprefix("module."): v
            for k, v in upgrade_state_dict(checkpoint["state_dict"]).items()}


def save_module_checkpoint(module, path: str | os.PathLike) -> Path:
    """Write ``module`` (a :class:`~gpo_vae.models.module.GpoVaeModule`) as a checkpoint
    in the training plan's format, atomically; :func:`load_trained` reads it (there is no
    optimizer state in it, so it cannot be resumed)."""
    import lightning
    import torch

    from gpo_vae.config import with_absolute_inputs
    from gpo_vae.io import atomic_path

    checkpoint = {
        "state_dict": {f"module.{k}": v.detach().cpu() for k, v in module.state_dict().items()},
        "hyper_parameters": {"config": with_absolute_inputs(module.config).to_dict(),
                             "data_info": module.data_info.to_dict()},
        "epoch": 0, "global_step": 0, "pytorch-lightning_version": lightning.__version__,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_trained(path: str | os.PathLike, map_location: str = "cpu"):
    """The :class:`~gpo_vae.models.module.GpoVaeModule` of a run folder or checkpoint,
    in eval mode on ``map_location``."""
    ckpt = resolve_checkpoint(path)
    saved = load_checkpoint_dict(ckpt)
    try:
        module = module_from_checkpoint(saved)
    except _LOAD_ERRORS as exc:
        raise _corrupt(ckpt, exc) from None
    return module.to(map_location).eval()
