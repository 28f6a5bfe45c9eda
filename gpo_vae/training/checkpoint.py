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


def load_trained(path: str | os.PathLike, map_location: str = "cpu"):
    """The :class:`GpoVaeLightningModule` in a run folder or checkpoint, in eval mode."""
    from gpo_vae.training.lightning_module import GpoVaeLightningModule

    ckpt = resolve_checkpoint(path)
    try:
        module = GpoVaeLightningModule.load_from_checkpoint(
            ckpt, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputFileError(f"checkpoint {str(ckpt)!r} is corrupt or not a gpo-vae "
                             f"checkpoint ({reason}); use another one or train again") from None
    return module.eval()
