"""Reading inputs with clear errors and writing outputs atomically.

Outputs are written to a temporary name in the destination folder and renamed into
place, so an interrupted or failed write never leaves a half-written result behind. The
files get the permissions the user's umask gives a new file (``tempfile`` would leave
them private, 0600, so colleagues could not read results).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import anndata as ad

from gpo_vae.errors import ConfigError, InputFileError, InputTypeError


def _current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinite floats replaced by None (JSON has no NaN) and numpy
    scalars and tuples turned into Python numbers and lists."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)-")
# temporary names are short and bounded (a hidden prefix, the pid, a random token and a
# short suffix), so an output whose own name is near the file system's limit still fits
_TEMPORARY_PREFIX = ".gv.tmp{pid}-"
_MAX_TEMPORARY_SUFFIX = 12
DEFAULT_NAME_MAX = 255


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system holding ``folder`` allows."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def check_name_length(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work, a path one of whose names is longer than the file system
    allows (one-line :class:`ConfigError` naming ``what``, e.g. ``--out``)."""
    path = Path(path)
    limit = _name_max(path.absolute().parent)
    for name in path.parts:
        size = len(os.fsencode(name))
        if size > limit:
            raise ConfigError(f"{what}: the name {name[:40]!r}... is {size} bytes, over the file "
                              f"system's limit of {limit} bytes for one name; choose a shorter "
                              "name")
    return path


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_temporary(name: str) -> bool:
    """Whether ``name`` is the temporary name of an atomic write (or a staging folder)."""
    return _TEMPORARY.match(name) is not None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of atomic writes in ``folder`` whose writer process is
    gone (a killed ``prepare`` or ``evaluate``); returns what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and not process_alive(int(match.group(1))):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield an empty staging folder inside ``folder``; on success move every file in it to
    the same place under ``folder`` (the names in ``last`` after all others), so readers
    never see half the results of a killed run. On failure the staging folder is removed;
    ones left by killed processes are removed on the next call."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".staging.tmp{os.getpid()}-", dir=folder))
    try:
        yield staging
        files = sorted((p for p in staging.rglob("*") if p.is_file()),
                       key=lambda p: p.name in last)
        for path in files:
            target = folder / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def require_writable_folder(path: str | os.PathLike, what: str) -> Path:
    """Check, before any work, that ``path`` is (or can become) a folder this process can
    write into; a one-line error names ``what`` (e.g. ``--out``) otherwise."""
    folder = check_name_length(path, what)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {str(folder)!r} is a file, not a folder; give a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what} {str(folder)!r} lies inside the file {str(existing)!r}; "
                          "give a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(folder)!r} is not writable ({str(existing)!r} is "
                          "read-only for this user); choose a folder you can write to")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = check_name_length(path, "output file")
    target.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid in the name lets a later run remove what a killed one left behind
    suffix = suffix or target.suffix
    if not suffix or len(suffix) > _MAX_TEMPORARY_SUFFIX:
        suffix = ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX.format(pid=os.getpid()),
                                    suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
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
    """Write ``data`` as indented, valid JSON (NaN becomes null) to ``path`` atomically."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def write_h5ad_atomic(adata: ad.AnnData, path: str | os.PathLike) -> Path:
    """Write ``adata`` to ``path`` (gzip-free h5ad) atomically."""
    with atomic_path(path, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp)
    return Path(path)


def write_h5ad_in_blocks(adata: ad.AnnData, blocks: Iterable, n_genes: int,
                         path: str | os.PathLike) -> Path:
    """Write ``adata`` (annotations only; its X is ignored) with CSR count rows arriving
    as ``blocks``, atomically; only one block is ever in memory.

    The row blocks are appended to the file's X through AnnData's backed sparse dataset,
    with 64-bit row pointers so screens with more than 2^31 stored counts fit.
    """
    import h5py
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    shell = ad.AnnData(obs=adata.obs, var=adata.var, uns=adata.uns, obsm=adata.obsm,
                       varm=adata.varm, layers=None)
    with atomic_path(path, suffix=".h5ad") as tmp:
        shell.write_h5ad(tmp)
        with h5py.File(tmp, "a") as handle:
            matrix = None
            for block in blocks:
                block = sp.csr_matrix(block)
                if matrix is None:
                    write_elem(handle, "X", block)
                    group = handle["X"]
                    pointers = group["indptr"][...].astype("int64")
                    del group["indptr"]
                    group.create_dataset("indptr", data=pointers, maxshape=(None,), chunks=True)
                    matrix = sparse_dataset(group)
                else:
                    matrix.append(block)
            if matrix is None:  # no cells
                write_elem(handle, "X", sp.csr_matrix((0, n_genes), dtype="float32"))
            elif matrix.shape != (adata.n_obs, n_genes):
                raise ValueError(f"wrote {matrix.shape} counts for {adata.n_obs} cells x "
                                 f"{n_genes} genes")
    return Path(path)


def save_figure_atomic(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the file suffix)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=target.suffix.lstrip(".") or "png", **kwargs)
    return target


def read_json(path: str | os.PathLike, what: str, fix: str) -> Any:
    """Parse a JSON file that a run wrote; an unreadable or corrupt file is a one-line
    :class:`InputFileError` naming ``what`` and the ``fix``."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputFileError(f"{what} {str(path)!r} cannot be read as JSON ({reason}); "
                             f"{fix}") from None


def require_input_file(path: str | os.PathLike, what: str = "input file",
                       fix: str = "check the path") -> Path:
    """``path`` as a Path when it is an existing file; a folder or a missing path is a
    one-line :class:`InputFileError` naming ``what`` (and ``fix`` for a missing one)."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{what} must be a file path, got {type(path).__name__} "
                             f"{str(path)[:40]!r}; pass a str or pathlib.Path")
    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{what} {str(p)!r} is a folder; give the file inside it (e.g. "
                             "its .h5ad file)")
    if not p.is_file():
        raise InputFileError(f"{what} {str(p)!r} does not exist; {fix}")
    return p


def read_h5ad(path: str | os.PathLike, backed: bool = False) -> ad.AnnData:
    """Read an h5ad file, turning missing, unreadable or truncated files into one-line errors."""
    p = require_input_file(path)
    try:
        return ad.read_h5ad(p, backed="r" if backed else None)
    except Exception as exc:  # h5py/anndata raise many types for corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(
            f"cannot read {str(p)!r} as h5ad ({reason[:160]}); the file may be truncated or "
            "not an AnnData file: re-download or re-export it with adata.write_h5ad()"
        ) from exc


@contextlib.contextmanager
def exclusive_folder(lock_file: str | os.PathLike, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created with its folder) while the block
    runs; if another process holds it, raise :class:`ConfigError` with message ``busy``
    at once. Two sweeps or benchmarks in one folder would train the same runs."""
    import fcntl

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
