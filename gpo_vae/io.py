"""Reading inputs with clear errors and writing outputs atomically.

Outputs are written to a temporary name in the destination folder and renamed into
place, so an interrupted or failed write never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anndata as ad

from gpo_vae.errors import InputFileError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_h5ad_atomic(adata: ad.AnnData, path: str | os.PathLike) -> Path:
    """Write ``adata`` to ``path`` (gzip-free h5ad) atomically."""
    with atomic_path(path, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp)
    return Path(path)


def save_figure_atomic(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the file suffix)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=target.suffix.lstrip(".") or "png", **kwargs)
    return target


def read_h5ad(path: str | os.PathLike, backed: bool = False) -> ad.AnnData:
    """Read an h5ad file, turning missing, unreadable or truncated files into one-line errors."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"input file {str(p)!r} does not exist; check the path")
    if p.is_dir():
        raise InputFileError(f"input path {str(p)!r} is a folder; give the .h5ad file inside it")
    try:
        return ad.read_h5ad(p, backed="r" if backed else None)
    except Exception as exc:  # h5py/anndata raise many types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(
            f"cannot read {str(p)!r} as h5ad ({reason[:160]}); the file may be truncated or "
            "not an AnnData file: re-download or re-export it with adata.write_h5ad()"
        ) from exc
