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
import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from gpo_vae.config import Config, DataConfig
from gpo_vae.data import cache as cache_mod
from gpo_vae.data.counterfactual import counterfactual_profiles
from gpo_vae.data.presets import SUMMARY_STATS_PRESETS, resolve_schema
from gpo_vae.data.rows import RowMatrix, uniform_index_dtype
from gpo_vae.data.schema import counts_matrix, gene_symbols, validate_anndata
from gpo_vae.data.splits import SPLITS, assign_splits, subsample_training
from gpo_vae.data.treatments import dosage_matrix, perturbed_genes, treatment_table
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

# what a simulated screen knows of itself; its settings let `design` simulate new cells
TRUTH_KEYS = ("true_grn", "true_grn_perturbed", "simulation")


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


def _log_dropped(log: Callable[[str], None], step: str, names: list[str], why: str) -> None:
    """Name every perturbation a filter removed entirely, and why."""
    if names:
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        log(f"  {step} removed {len(names)} perturbation(s): {shown}: {why}")


def _log_step(report: list, log: Callable[[str], None], step: str, adata_or_n, start: float,
              **extra) -> None:
    # AnnData objects sit in reference cycles, so a replaced (filtered) copy is only freed
    # by the cyclic collector; collect now so two full count matrices never pile up.
    gc.collect()
    n = adata_or_n if isinstance(adata_or_n, int) else adata_or_n.n_obs
    entry = {"step": step, "cells": int(n), "seconds": round(time.perf_counter() - start, 2),
             "peak_memory_gb": peak_memory_gb(), **extra}
    report.append(entry)
    details = "".join(f", {k.replace('_', ' ')} {v}" for k, v in extra.items()
                      if not isinstance(v, (list, dict)))
    log(f"  {step:<28} {n:>9,} cells ({entry['seconds']:.1f} s, peak "
        f"{entry['peak_memory_gb']:.1f} GB{details})")


def _train_log1p_stats(counts: RowMatrix, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and std of log1p(counts) over training cells (a block at a time)."""
    total, squares = np.zeros(counts.shape[1]), np.zeros(counts.shape[1])
    for _, block in counts.subset(np.flatnonzero(train)).blocks():
        block.data = np.log1p(block.data)
        total += np.asarray(block.sum(axis=0)).ravel()
        squares += np.asarray(block.multiply(block).sum(axis=0)).ravel()
    n = max(int(train.sum()), 1)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def _open_input(cfg: DataConfig, layer: str | None, log: Callable[[str], None]
                ) -> tuple[ad.AnnData, RowMatrix]:
    """The input's annotations (backed AnnData) and its counts, left on disk when they
    are stored as CSR (the usual h5ad layout), else read into memory."""
    raw = read_h5ad(cfg.path, backed=True)
    try:
        counts = RowMatrix.from_h5ad(cfg.path, layer)
    except InputDataError as exc:
        log(f"note: reading the counts into memory ({str(exc).split(';')[0]})")
        in_memory = read_h5ad(cfg.path)
        counts = RowMatrix(counts_matrix(in_memory, layer))
        del in_memory
    return raw, counts


def run_preparation(config: Config, *, progress: bool = True,
                    log: Callable[[str], None] = print,
                    raw: ad.AnnData | None = None) -> ad.AnnData:
    """Do the whole preparation in memory (no cache); returns the prepared AnnData.

    ``raw`` is the input screen (default: read ``data.path``); it is not modified.
    """
    adata, counts = _prepare(config, progress=progress, log=log, raw=raw)
    X = counts.to_csr()
    # the caller's matrix is copied: the input of an in-memory preparation must not change
    adata.X = X.copy() if raw is not None and X is counts.source else X
    return adata


def _prepare(config: Config, *, progress: bool, log: Callable[[str], None],
             raw: ad.AnnData | None = None) -> tuple[ad.AnnData, RowMatrix]:
    """The prepared annotations (an AnnData without X) and the rows of the input's
    counts they describe (still on disk when the input was read from a file)."""
    from gpo_vae.data import filters, pairing
    from gpo_vae.data import qc as qc_mod
    from gpo_vae.stats import log_normalize

    cfg = config.data
    if raw is None and not cfg.path:
        raise ConfigError("data.path is not set; give the input file with --set data.path=FILE")
    report: list[dict] = []
    start = time.perf_counter()
    if raw is None:
        raw, counts = _open_input(cfg, cfg.counts_layer, log)
    else:
        counts = None
    resolved = resolve_schema(cfg, raw)
    schema = resolved.schema
    if counts is None:
        counts = RowMatrix(counts_matrix(raw, schema.counts_layer))
    for warning in validate_anndata(raw, schema, counts=counts).warnings:
        log(f"warning: {warning}")
    key, control = schema.perturbation_key, schema.control_label
    adata = ad.AnnData(
        obs=pd.DataFrame({"cell_id": raw.obs_names.astype(str),
                          "perturbation": raw.obs[key].astype(str).to_numpy()},
                         index=raw.obs_names.astype(str)),
        var=pd.DataFrame({"gene_symbol": gene_symbols(raw, schema.gene_symbol_key)},
                         index=raw.var_names.astype(str)),
    )
    if resolved.gene_id_key:
        adata.obs["target_gene_id"] = raw.obs[resolved.gene_id_key].astype(str).to_numpy()
    truth = {k: raw.uns[k] for k in TRUTH_KEYS if k in raw.uns}
    if raw.isbacked:
        raw.file.close()
    del raw
    # Downstream code reads symbols from var_names; the input's var index is kept aside.
    adata.var["input_var_name"] = adata.var_names
    adata.var_names = adata.var["gene_symbol"].to_numpy()

    def keep_cells(keep: np.ndarray) -> None:
        nonlocal adata, counts
        if not np.all(keep):
            adata, counts = filters.subset_cells(adata, keep), counts.subset(keep)

    keep_cells(np.asarray(counts.sum(axis=1)).ravel() > 0)
    _log_step(report, log, "read and validate", adata, start)
    step_schema = dict(perturbation_key="perturbation", control_label=control)

    start = time.perf_counter()
    qc = qc_mod.annotate_qc(adata, qc_threshold=cfg.qc_threshold, doublets=cfg.doublets,
                            seed=cfg.seed, backend=cfg.backend, counts=counts)
    for column in qc.columns:
        adata.obs[column] = qc[column].to_numpy()
    _log_step(report, log, "QC annotation", adata, start,
              qc_failing=int(adata.obs["qc"].sum()))

    if cfg.summary_stats:
        start = time.perf_counter()
        if cfg.preset not in SUMMARY_STATS_PRESETS:
            raise ConfigError(
                f"data.summary_stats is only read for presets {', '.join(SUMMARY_STATS_PRESETS)}"
                f" (preset is {cfg.preset!r}); remove it or change data.preset")
        stats = filters.load_summary_stats(cfg.summary_stats, cfg.preset)
        keep, info = filters.strong_perturbation_mask(
            adata, stats, **step_schema,
            gene_id_key="target_gene_id" if "target_gene_id" in adata.obs else None,
            min_degs=cfg.min_degs, max_knockdown=cfg.max_knockdown_pct,
            min_cells=cfg.min_cells_filtered)
        keep_cells(keep)
        _log_step(report, log, "strong perturbations", adata, start,
                  perturbations_kept=info.get("n_kept"))
        _log_dropped(log, "strong-perturbation filter", info["dropped"],
                     "not strong in the summary statistics (or absent from them)")

    if cfg.knockdown_filter:
        start = time.perf_counter()
        direction = "up" if cfg.perturbation_type == "activation" else "down"
        keep, info = filters.knockdown_mask(
            adata, **step_schema, quantile=cfg.knockdown_quantile,
            combination_separator=schema.combination_separator, direction=direction,
            counts=counts)
        keep_cells(keep)
        _log_step(report, log, "knockdown filter", adata, start)
        gone = sorted(p for p, v in info["per_perturbation"].items()
                      if v["kept"] == 0 and v["dropped"] > 0)
        _log_dropped(log, "knockdown filter", gone,
                     f"no cell's target went {direction} enough vs controls "
                     f"({cfg.perturbation_type} screen; set data.perturbation_type, or "
                     "data.knockdown_filter=false)")

    start = time.perf_counter()
    keep, info = filters.small_perturbation_mask(adata, **step_schema, min_cells=cfg.min_cells)
    keep_cells(keep)
    labels = adata.obs["perturbation"]
    n_perts = labels[labels != control].nunique()
    _log_step(report, log, "minimum cells", adata, start, perturbations=int(n_perts))
    _log_dropped(log, "minimum cells", [f"{k} ({v} cells)" for k, v in info["dropped"].items()],
                 f"fewer than data.min_cells={cfg.min_cells} cells")

    start = time.perf_counter()
    lognorm = counts.map_blocks(log_normalize)  # per cell, so exact block by block
    perturbed = perturbed_genes(labels, control, schema.combination_separator)
    extra: list[str] = []
    if cfg.extra_genes:
        extra = filters.extra_de_genes(
            adata, perturbation_key="perturbation", control_label=control,
            perturbed_genes=perturbed, lfc_threshold=cfg.de_lfc_threshold,
            pval_threshold=cfg.de_pval_threshold, seed=cfg.seed, expression=lognorm)
        if cfg.max_extra_genes is not None:
            extra = extra[: cfg.max_extra_genes]
    treatments = treatment_table(perturbed, extra, set(adata.var_names))
    dosages = dosage_matrix(labels, control, schema.combination_separator,
                            treatments["name"].tolist())
    _log_step(report, log, "treatment genes", adata, start, perturbed=len(perturbed),
              extra=len(extra))

    start = time.perf_counter()
    split = assign_splits(labels, control, cfg.split, cfg.split_fractions, cfg.seed,
                          schema.combination_separator)
    if cfg.train_cells_per_perturbation:
        keep = subsample_training(split, labels.to_numpy(), control,
                                  cfg.train_cells_per_perturbation, cfg.seed)
        keep_cells(keep)
        split, dosages = split[keep], dosages[keep]
        labels = adata.obs["perturbation"]
        lognorm = counts.map_blocks(log_normalize)
    adata.obs["split"] = pd.Categorical(split, categories=list(SPLITS))
    _log_step(report, log, f"split ({cfg.split})", adata, start,
              **{s: int((split == s).sum()) for s in SPLITS})

    start = time.perf_counter()
    in_treatment_space = pairing.TreatmentExpression(adata.var_names, treatments)
    is_control = (labels == control).to_numpy()
    matched = np.arange(adata.n_obs)
    for name in SPLITS:  # one split's treatment-gene expression in memory at a time
        rows = np.flatnonzero(split == name)
        expr = in_treatment_space.of_lognorm(lognorm.subset(rows))
        local = pairing.pair_all(expr, labels.to_numpy()[rows], is_control[rows],
                                 cfg.pairing, seed=cfg.seed, progress=progress)
        matched[rows] = rows[local]
        del expr
    adata.obs["matched_control"] = matched
    _log_step(report, log, f"control pairing ({cfg.pairing})", adata, start)

    start = time.perf_counter()
    profiles, cf_index = counterfactual_profiles(
        counts, labels.to_numpy(), adata.obs["qc"].to_numpy(), split,
        max_cells=cfg.counterfactual_cells, seed=cfg.seed)
    adata.obs["counterfactual_index"] = cf_index
    _log_step(report, log, "counterfactuals", adata, start,
              with_counterfactual=int((cf_index >= 0).sum()))

    train = split == "train"
    adata.obs["library_size"] = np.asarray(counts.sum(axis=1)).ravel().astype(np.float32)
    mean, std = _train_log1p_stats(counts, train)
    adata.var["train_log1p_mean"], adata.var["train_log1p_std"] = mean, std
    treatments["train_cells"] = np.asarray((dosages[train] > 0).sum(axis=0)).ravel()
    qc_train = adata.obs["qc"].to_numpy()[train]
    adata.obsm["dosages"] = dosages
    adata.uns["treatments"] = treatments
    adata.uns["train_cells_per_qc"] = np.array([(~qc_train).sum(), qc_train.sum()])
    adata.uns["counterfactual_profiles"] = profiles
    adata.uns["prepare_report"] = pd.DataFrame(
        [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in report])
    adata.uns["schema"] = {"control_label": control, "preset": cfg.preset,
                           "split": cfg.split, "pairing": cfg.pairing,
                           "combination_separator": schema.combination_separator or ""}
    # the data settings, so a model trained on this AnnData records how it was prepared
    adata.uns["prepare_settings"] = json.dumps(dataclasses.asdict(cfg))
    adata.uns.update(truth)
    return adata, counts


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


def prepare(config: Config | DataConfig, *, progress: bool = True,
            log: Callable[[str], None] = print, force: bool = False) -> PreparedData:
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
        log(f"using cached prepared data {data_path} (same input and settings)")
        _check_readable(data_path)
        return PreparedData(None, manifest, data_path, from_cache=True, backed=cfg.backed)

    log(f"preparing {cfg.path} (preset {cfg.preset})")
    start = time.perf_counter()
    adata, counts = _prepare(config, progress=progress, log=log)
    write_start = time.perf_counter()
    # the counts go from the input to the prepared file a block at a time
    write_h5ad_in_blocks(adata, (block for _, block in counts.blocks()), counts.shape[1],
                         data_path)
    adata.uns["prepare_report"].loc[len(adata.uns["prepare_report"])] = {
        "step": "write", "cells": adata.n_obs,
        "seconds": round(time.perf_counter() - write_start, 2),
        "peak_memory_gb": peak_memory_gb()}
    log(f"  {'write':<28} {adata.n_obs:>9,} cells ({time.perf_counter() - write_start:.1f} s, "
        f"peak {peak_memory_gb():.1f} GB)")
    treatments = adata.uns["treatments"]
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
        "cells_per_split": {s: int((adata.obs["split"] == s).sum()) for s in SPLITS},
        "seconds": round(time.perf_counter() - start, 1),
        "steps": adata.uns["prepare_report"].to_dict(orient="records"),
    }
    write_json_atomic(manifest_path, manifest)
    log(f"wrote {data_path} ({adata.n_obs:,} cells x {adata.n_vars:,} genes, "
        f"T = {len(treatments)} treatment genes) in {manifest['seconds']} s")
    return PreparedData(None, manifest, data_path, from_cache=False, backed=cfg.backed)


def require_prepared(adata: ad.AnnData, what: str = "adata") -> ad.AnnData:
    """Return ``adata`` when it came out of :func:`prepare`; anything else (a path, a raw
    AnnData) is a one-line error naming ``what`` (the one check of every API entry)."""
    if not isinstance(adata, ad.AnnData):
        raise InputTypeError(
            f"{what} must be a prepared AnnData, got {type(adata).__name__} "
            f"{str(adata)[:60]!r}; make one with gv.prepare(raw_adata_or_path)")
    if "dosages" not in adata.obsm or "treatments" not in adata.uns or \
            "matched_control" not in adata.obs:
        raise InputDataError(
            f"{what} is an AnnData that was not made by `gpo-vae prepare`; run "
            "gv.prepare(adata) (or `gpo-vae prepare`) on the raw screen first")
    return adata
