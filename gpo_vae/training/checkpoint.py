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


_LOAD_ERRORS = (RuntimeError, EOFError, KeyError, TypeError, ValueError,
                pickle.UnpicklingError, zipfile.BadZipFile)


def _corrupt(ckpt: Path, exc: Exception) -> InputFileError:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    return InputFileError(f"checkpoint {str(ckpt)!r} is corrupt or not a gpo-vae "
                          f"checkpoint ({reason}); use another one or train again")


def load_checkpoint_dict(path: str | os.PathLike) -> dict:
    """The raw checkpoint dictionary (tensors on CPU; no code is unpickled)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as exc:
        raise _corrupt(Path(path), exc) from None


def load_trained(path: str | os.PathLike, map_location: str = "cpu"):
    """The :class:`GpoVaeLightningModule` in a run folder or checkpoint, in eval mode."""
    from gpo_vae.training.lightning_module import GpoVaeLightningModule

    ckpt = resolve_checkpoint(path)
    try:
        module = GpoVaeLightningModule.load_from_checkpoint(
            ckpt, map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as exc:
        raise _corrupt(ckpt, exc) from None
    return module.eval()
