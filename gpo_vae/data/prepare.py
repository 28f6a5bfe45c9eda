"""``prepare``: from a raw Perturb-seq AnnData to everything GPO-VAE trains on.

validate -> QC annotation -> strong-perturbation filter -> knockdown filter -> minimum
cells -> extra DE genes -> dosages -> splits -> control pairing within each split ->
counterfactual targets -> training statistics -> cache. Counts stay sparse
throughout; only per-group blocks are densified. Out of core: the input's counts are
read from disk a block of cells at a time (:class:`~gpo_vae.data.rows.RowMatrix`),
filters only narrow a row selection, and the prepared counts are streamed into the
cache file, so memory holds per-cell tables and the treatment-gene columns, never the
whole matrix.

The prepared AnnData holds raw counts in X (CSR) and:
- ``obs``: ``cell_id``, ``perturbation``, ``qc`` (bool) and QC metrics, ``split``,
  ``matched_control`` (row of the paired control), ``library_size``,
  ``counterfactual_index`` (row of ``uns['counterfactual_profiles']`` or -1);
- ``obsm['dosages']`` (cells x T, sparse); deltaX is computed per batch from the
  counts of a cell and of its matched control (:class:`~gpo_vae.data.pairing.TreatmentExpression`);
- ``var``: ``gene_symbol``, ``train_log1p_mean``, ``train_log1p_std`` (encoder inputs);
- ``uns``: ``treatments`` (name, kind, measured, train_cells), ``train_cells_per_qc``,
  ``counterfactual_profiles``, ``prepare_report`` and, for simulated data, the truth.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import scipy.sparse as sp

from gpo_vae.config import Config, DataConfig
from gpo_vae.constants import (
    OBS_MATCHED_CONTROL,
    OBS_SPLIT,
    OBSM_DOSAGES,
    UNS_PREPARE_REPORT,
    UNS_TREATMENTS,
)
from gpo_vae.data import cache as cache_mod
from gpo_vae.data import steps
from gpo_vae.data.rows import RowMatrix, uniform_index_dtype
from gpo_vae.data.splits import SPLITS
from gpo_vae.errors import ConfigError, InputDataError, InputFileError, InputTypeError
from gpo_vae.io import (
    read_h5ad,
    remove_stale_temporaries,
    require_input_file,
    require_writable_folder,
    write_h5ad_in_blocks,
    write_json_atomic,
)
from gpo_vae.memory import peak_memory_gb

logger = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """A prepared screen and where it lives in the cache.

    ``adata`` is read from ``path`` when first used (so preparing a screen larger than
    memory never loads it): into memory, or backed (counts left on disk, for
    ``data.backed``).
    """

    _adata: ad.AnnData | None
    manifest: dict
    path: Path | None
    from_cache: bool
    backed: bool = False

    @property
    def adata(self) -> ad.AnnData:
        if self._adata is None:
            self._adata = read_prepared(self.path, backed=self.backed)
        return self._adata


def _check_readable(path: Path) -> None:
    """Fail now, with the fix, when a cached file is truncated (opening the HDF5 file and
    finding its parts is enough; reading it all would load a screen larger than memory)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            complete = all(key in handle for key in ("X", "obs", "var", "obsm", "uns"))
    except OSError:
        complete = False
    if not complete:
        raise InputFileError(
            f"the cached prepared data {str(path)!r} is truncated or unreadable; "
            "prepare again with gpo-vae prepare --force (or delete the file)")


def read_prepared(path: str | Path, backed: bool = False) -> ad.AnnData:
    """Read a prepared h5ad of the cache (backed: X stays on disk), with a clear error."""
    try:
        adata = read_h5ad(path, backed=backed)
    except InputFileError:
        raise InputFileError(
            f"the cached prepared data {str(path)!r} is truncated or unreadable; "
            "prepare again with gpo-vae prepare --force (or delete the file)") from None
    if not backed and sp.issparse(adata.X) and adata.X.format == "csr":
        # one index dtype, so row selections do not copy all indices (see the helper)
        adata.X = uniform_index_dtype(adata.X)
    return adata


def default_cache_dir(config: Config) -> Path:
    """Prepared data is cached next to the output: ``<output_dir>/cache``."""
    if config.data.cache_dir:
        return Path(config.data.cache_dir)
    return Path(config.output_dir) / "cache"


def run_preparation(config: Config, *, raw: ad.AnnData | None = None) -> ad.AnnData:
    """Do the whole preparation in memory (no cache); returns the prepared AnnData.

    ``raw`` is the input screen (default: read ``data.path``); it is not modified.
    """
    adata, counts = _prepare(config, raw=raw)
    X = counts.to_csr()
    # the caller's matrix is copied: the input of an in-memory preparation must not change
    adata.X = X.copy() if raw is not None and X is counts.source else X
    return adata


def _prepare(config: Config, *, raw: ad.AnnData | None = None) -> tuple[ad.AnnData, RowMatrix]:
    """The prepared annotations (an AnnData without X) and the rows of the input's
    counts they describe (still on disk when the input was read from a file): the steps
    of :mod:`gpo_vae.data.steps`, in order."""
    if raw is None and not config.data.path:
        raise ConfigError("data.path is not set; give the input file with --set data.path=FILE")
    state = steps.read_and_validate(config.data, raw)
    for step in steps.STEPS:
        step(state)
    return steps.finish(state), state.counts


def prepared_key(cfg: DataConfig) -> str:
    """The cache key of the prepared data: the data settings and the input files' bytes
    (so a replaced input file is never mistaken for the old one)."""
    return cache_mod.cache_key(
        dataclasses.asdict(cfg), cache_mod.file_digest(cfg.path),
        cache_mod.file_digest(cfg.summary_stats) if cfg.summary_stats else None)


def _missing_fix(path: str, key: str) -> str:
    """How to get a missing input: the ``gpo-vae download`` command of a benchmark file,
    else a reminder of the setting that names it."""
    from gpo_vae.download.registry import download_hint

    command = download_hint(path)
    return f"fetch it with `{command}` (or check {key})" if command else f"check {key}"


def prepare(config: Config | DataConfig, *, force: bool = False) -> PreparedData:
    """Prepare a screen, or load it from the cache when inputs and settings are unchanged."""
    if isinstance(config, DataConfig):
        config = Config(data=config)
    cfg = config.data
    if not cfg.path:
        raise ConfigError("data.path is not set; give the input file with --set data.path=FILE")
    require_input_file(cfg.path, fix=_missing_fix(cfg.path, "data.path (--set data.path=FILE)"))
    if cfg.summary_stats and not Path(cfg.summary_stats).is_file():
        raise InputFileError(
            f"summary statistics file {cfg.summary_stats!r} does not exist; "
            + _missing_fix(cfg.summary_stats, "data.summary_stats"))
    settings = dataclasses.asdict(cfg)
    key = prepared_key(cfg)
    cache_dir = require_writable_folder(default_cache_dir(config), "the prepared-data cache "
                                        "folder (data.cache_dir or output_dir/cache)")
    remove_stale_temporaries(cache_dir)
    data_path, manifest_path = cache_mod.cache_paths(cache_dir, key)
    manifest = None if force else cache_mod.read_manifest(manifest_path, data_path)
    if manifest is not None:
        logger.info(f"using cached prepared data {data_path} (same input and settings)")
        _check_readable(data_path)
        return PreparedData(None, manifest, data_path, from_cache=True, backed=cfg.backed)

    logger.info(f"preparing {cfg.path} (preset {cfg.preset})")
    start = time.perf_counter()
    adata, counts = _prepare(config)
    write_start = time.perf_counter()
    # the counts go from the input to the prepared file a block at a time
    write_h5ad_in_blocks(adata, (block for _, block in counts.blocks()), counts.shape[1],
                         data_path)
    adata.uns[UNS_PREPARE_REPORT].loc[len(adata.uns[UNS_PREPARE_REPORT])] = {
        "step": "write", "cells": adata.n_obs,
        "seconds": round(time.perf_counter() - write_start, 2),
        "peak_memory_gb": peak_memory_gb()}
    logger.info(f"  {'write':<28} {adata.n_obs:>9,} cells "
                f"({time.perf_counter() - write_start:.1f} s, peak {peak_memory_gb():.1f} GB)")
    treatments = adata.uns[UNS_TREATMENTS]
    manifest = {
        "version": cache_mod.PREPARE_VERSION,
        "key": key,
        "input": str(cfg.path),
        "summary_stats": cfg.summary_stats,
        "settings": settings,
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "peak_memory_gb": peak_memory_gb(),
        "n_perturbed_genes": int((treatments["kind"] == "perturbed").sum()),
        "n_extra_genes": int((treatments["kind"] == "extra").sum()),
        "cells_per_split": {s: int((adata.obs[OBS_SPLIT] == s).sum()) for s in SPLITS},
        "seconds": round(time.perf_counter() - start, 1),
        "steps": adata.uns[UNS_PREPARE_REPORT].to_dict(orient="records"),
    }
    write_json_atomic(manifest_path, manifest)
    logger.info(f"wrote {data_path} ({adata.n_obs:,} cells x {adata.n_vars:,} genes, "
                f"T = {len(treatments)} treatment genes) in {manifest['seconds']} s")
    return PreparedData(None, manifest, data_path, from_cache=False, backed=cfg.backed)


def require_prepared(adata: ad.AnnData, what: str = "adata") -> ad.AnnData:
    """Return ``adata`` when it came out of :func:`prepare`; anything else (a path, a raw
    AnnData) is a one-line error naming ``what`` (the one check of every API entry)."""
    if not isinstance(adata, ad.AnnData):
        raise InputTypeError(
            f"{what} must be a prepared AnnData, got {type(adata).__name__} "
            f"{str(adata)[:60]!r}; make one with gv.prepare(raw_adata_or_path)")
    if OBSM_DOSAGES not in adata.obsm or UNS_TREATMENTS not in adata.uns or \
            OBS_MATCHED_CONTROL not in adata.obs:
        raise InputDataError(
            f"{what} is an AnnData that was not made by `gpo-vae prepare`; run "
            "gv.prepare(adata) (or `gpo-vae prepare`) on the raw screen first")
    return adata
