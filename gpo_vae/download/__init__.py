"""``gpo-vae download``: the benchmark data sets from their public sources.

:func:`download` fetches the registry's entries (:data:`DATASETS`) into a folder
(``datasets/`` by default, the layout the configs read), resuming interrupted transfers,
verifying sizes and checksums where the sources publish them, and converting what needs
converting. A file already present (and verified, where a checksum is known) is not
fetched again unless ``force``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gpo_vae.download.fetch import DownloadError, fetch, verified
from gpo_vae.download.registry import DATASETS, DEFAULT_DIR, Dataset, Output, dataset
from gpo_vae.errors import ConfigError

__all__ = ["DATASETS", "DEFAULT_DIR", "DownloadError", "download", "dataset"]

logger = logging.getLogger("gpo_vae.download")

#: Subfolder of the data folder that keeps downloads which are converted or unpacked.
RAW_SUBDIR = ".downloads"


def _produce(output: Output, root: Path, force: bool, quiet: bool, fetched: set) -> Path:
    """Write one output (fetching its source unless present and verified)."""
    from gpo_vae.download.convert import CONVERTERS, extract_member

    final = root / output.path
    if final.is_file() and not force and (output.step or verified(final, output.source)):
        logger.info("%s: present%s", final, "" if output.step else ", verified")
        return final
    if output.step is None:
        return fetch(output.source, final, quiet=quiet)
    raw = root / RAW_SUBDIR / output.source.filename
    if (force and raw not in fetched) or not verified(raw, output.source):
        fetch(output.source, raw, quiet=quiet)
        fetched.add(raw)
    kind, _, what = output.step.partition(":")
    logger.info("%s: %s from %s", final, "extracting" if kind == "extract" else "converting",
                raw.name)
    if kind == "extract":
        return extract_member(raw, what, final)
    return CONVERTERS[what](raw, final)


def download(names: str | list[str], directory: str | os.PathLike = DEFAULT_DIR, *,
             force: bool = False, quiet: bool = False) -> list[Path]:
    """Fetch benchmark data sets into ``directory``.

    Parameters
    ----------
    names
        Registry names (``gpo-vae download --list``): ``adamson``, ``replogle_k562``,
        ``rpe1``, ``summary_stats``, ``papalexi``, ``networks``.
    directory
        The data folder [default: ``datasets``, where the configs look].
    force
        Fetch again even when a file is present and verified.
    quiet
        No progress bars.

    Returns
    -------
    list of Path
        The files the configs read, present and complete.

    Raises
    ------
    DownloadError
        Unreachable source, wrong size or checksum (one line: the URL and what to do;
        the final file is never half-written).

    Examples
    --------
    >>> import gpo_vae as gv
    >>> gv.download(["rpe1", "summary_stats"])  # doctest: +SKIP
    [PosixPath('datasets/rpe1_raw_singlecell_01.h5ad'), ...]
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ConfigError(f"name at least one data set: {', '.join(DATASETS)}")
    entries: list[Dataset] = [dataset(name) for name in names]  # all checked before work
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--dir {str(root)!r} is a file; give a folder")
    written, fetched = [], set()
    for entry in entries:
        for output in entry.outputs:
            written.append(_produce(output, root, force, quiet, fetched))
    return written
