"""``prepare``: from a raw Perturb-seq AnnData to everything GPO-VAE trains on.

validate -> QC annotation -> strong-perturbation filter -> knockdown filter -> minimum
cells -> extra DE genes -> dosages -> splits -> control pairing within each split ->
deltaX -> counterfactual targets -> training statistics -> cache. Counts stay sparse
throughout; only per-group blocks are densified.

The prepared AnnData holds raw counts in X (CSR) and:
- ``obs``: ``cell_id``, ``perturbation``, ``qc`` (bool) and QC metrics, ``split``,
  ``matched_control`` (row of the paired control), ``library_size``,
  ``counterfactual_index`` (row of ``uns['counterfactual_profiles']`` or -1);
- ``obsm['dosages']`` (cells x T, sparse) and ``obsm['delta_x']`` (cells x T, float32);
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
from gpo_vae.data.pseudobulk import log_normalize
from gpo_vae.data.schema import counts_matrix, gene_symbols, validate_anndata
from gpo_vae.data.splits import SPLITS, assign_splits
from gpo_vae.data.treatments import dosage_matrix, perturbed_genes, treatment_table
from gpo_vae.errors import ConfigError, InputDataError, InputFileError
from gpo_vae.io import (
    read_h5ad,
    remove_stale_temporaries,
    require_writable_folder,
    write_h5ad_atomic,
    write_json_atomic,
)
from gpo_vae.memory import peak_memory_gb

TRUTH_KEYS = ("true_grn", "true_grn_perturbed")


@dataclass
class PreparedData:
    """A prepared screen and where it lives in the cache."""

    adata: ad.AnnData
    manifest: dict
    path: Path
    from_cache: bool


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


def _train_log1p_stats(counts: sp.csr_matrix, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and std of log1p(counts) over training cells (sparse arithmetic)."""
    x = counts[train].astype(np.float32)
    x.data = np.log1p(x.data)
    n = max(x.shape[0], 1)
    mean = np.asarray(x.sum(axis=0)).ravel() / n
    sq = x.multiply(x)
    var = np.asarray(sq.sum(axis=0)).ravel() / n - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def _pairing_inputs(lognorm: ad.AnnData, treatments: pd.DataFrame) -> sp.csr_matrix:
    """Log-normalised expression of the measured treatment genes (cells x T, zeros for
    unmeasured ones), the space in which cells are paired with controls."""
    measured = treatments.loc[treatments["measured"], "name"].tolist()
    cols = lognorm.var_names.get_indexer(measured)
    block = sp.csr_matrix(lognorm.X[:, cols])
    placement = sp.csr_matrix(
        (np.ones(len(measured), dtype=np.float32),
         (np.arange(len(measured)), np.flatnonzero(treatments["measured"].to_numpy()))),
        shape=(len(measured), len(treatments)),
    )
    return (block @ placement).tocsr()


def run_preparation(config: Config, *, progress: bool = True,
                    log: Callable[[str], None] = print,
                    raw: ad.AnnData | None = None) -> ad.AnnData:
    """Do the whole preparation in memory (no cache); returns the prepared AnnData.

    ``raw`` is the input screen (default: read ``data.path``); it is not modified.
    """
    from gpo_vae.data import filters, pairing
    from gpo_vae.data import qc as qc_mod

    cfg = config.data
    if raw is None and not cfg.path:
        raise ConfigError("data.path is not set; give the input file with --set data.path=FILE")
    report: list[dict] = []
    start = time.perf_counter()
    caller_owns_input = raw is not None
    if raw is None:
        raw = read_h5ad(cfg.path)
    resolved = resolve_schema(cfg, raw)
    schema = resolved.schema
    for warning in validate_anndata(raw, schema).warnings:
        log(f"warning: {warning}")
    key, control = schema.perturbation_key, schema.control_label
    # the caller's matrix is copied: the input of an in-memory preparation must not change
    counts = sp.csr_matrix(counts_matrix(raw, schema.counts_layer), dtype=np.float32,
                           copy=caller_owns_input)
    adata = ad.AnnData(
        X=counts,
        obs=pd.DataFrame({"cell_id": raw.obs_names.astype(str),
                          "perturbation": raw.obs[key].astype(str).to_numpy()},
                         index=raw.obs_names.astype(str)),
        var=pd.DataFrame({"gene_symbol": gene_symbols(raw, schema.gene_symbol_key)},
                         index=raw.var_names.astype(str)),
    )
    if resolved.gene_id_key:
        adata.obs["target_gene_id"] = raw.obs[resolved.gene_id_key].astype(str).to_numpy()
    truth = {k: raw.uns[k] for k in TRUTH_KEYS if k in raw.uns}
    del raw, counts
    # Downstream code reads symbols from var_names; the input's var index is kept aside.
    adata.var["input_var_name"] = adata.var_names
    adata.var_names = adata.var["gene_symbol"].to_numpy()
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    adata = filters.subset_cells(adata, totals > 0)
    _log_step(report, log, "read and validate", adata, start)
    step_schema = dict(perturbation_key="perturbation", control_label=control)

    start = time.perf_counter()
    qc = qc_mod.annotate_qc(adata, qc_threshold=cfg.qc_threshold, doublets=cfg.doublets,
                            seed=cfg.seed, backend=cfg.backend)
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
        adata, info = filters.filter_strong_perturbations(
            adata, stats, **step_schema,
            gene_id_key="target_gene_id" if "target_gene_id" in adata.obs else None,
            min_degs=cfg.min_degs, max_knockdown=cfg.max_knockdown_pct,
            min_cells=cfg.min_cells_filtered)
        _log_step(report, log, "strong perturbations", adata, start,
                  perturbations_kept=info.get("n_kept"))
        _log_dropped(log, "strong-perturbation filter", info["dropped"],
                     "not strong in the summary statistics (or absent from them)")

    if cfg.knockdown_filter:
        start = time.perf_counter()
        direction = "up" if cfg.perturbation_type == "activation" else "down"
        adata, info = filters.knockdown_filter(
            adata, **step_schema, quantile=cfg.knockdown_quantile,
            combination_separator=schema.combination_separator, direction=direction)
        _log_step(report, log, "knockdown filter", adata, start)
        gone = sorted(p for p, v in info["per_perturbation"].items()
                      if v["kept"] == 0 and v["dropped"] > 0)
        _log_dropped(log, "knockdown filter", gone,
                     f"no cell's target went {direction} enough vs controls "
                     f"({cfg.perturbation_type} screen; set data.perturbation_type, or "
                     "data.knockdown_filter=false)")

    start = time.perf_counter()
    adata, info = filters.drop_small_perturbations(adata, **step_schema, min_cells=cfg.min_cells)
    labels = adata.obs["perturbation"]
    n_perts = labels[labels != control].nunique()
    _log_step(report, log, "minimum cells", adata, start, perturbations=int(n_perts))
    _log_dropped(log, "minimum cells", [f"{k} ({v} cells)" for k, v in info["dropped"].items()],
                 f"fewer than data.min_cells={cfg.min_cells} cells")

    start = time.perf_counter()
    lognorm = log_normalize(adata)
    perturbed = perturbed_genes(labels, control, schema.combination_separator)
    extra: list[str] = []
    if cfg.extra_genes:
        extra = filters.extra_de_genes(
            lognorm, perturbation_key="perturbation", control_label=control,
            perturbed_genes=perturbed, lfc_threshold=cfg.de_lfc_threshold,
            pval_threshold=cfg.de_pval_threshold, seed=cfg.seed)
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
    adata.obs["split"] = pd.Categorical(split, categories=list(SPLITS))
    _log_step(report, log, f"split ({cfg.split})", adata, start,
              **{s: int((split == s).sum()) for s in SPLITS})

    start = time.perf_counter()
    expr = _pairing_inputs(lognorm, treatments)
    del lognorm
    is_control = (labels == control).to_numpy()
    matched = np.arange(adata.n_obs)
    for name in SPLITS:
        rows = np.flatnonzero(split == name)
        local = pairing.pair_all(expr[rows], labels.to_numpy()[rows], is_control[rows],
                                 cfg.pairing, seed=cfg.seed, progress=progress)
        matched[rows] = rows[local]
    delta = pairing.delta_x(expr, matched)
    adata.obs["matched_control"] = matched
    _log_step(report, log, f"control pairing ({cfg.pairing})", adata, start)

    start = time.perf_counter()
    profiles, cf_index = counterfactual_profiles(
        adata.X, labels.to_numpy(), adata.obs["qc"].to_numpy(), split,
        max_cells=cfg.counterfactual_cells, seed=cfg.seed)
    adata.obs["counterfactual_index"] = cf_index
    _log_step(report, log, "counterfactuals", adata, start,
              with_counterfactual=int((cf_index >= 0).sum()))

    train = split == "train"
    adata.obs["library_size"] = np.asarray(adata.X.sum(axis=1)).ravel().astype(np.float32)
    mean, std = _train_log1p_stats(adata.X, train)
    adata.var["train_log1p_mean"], adata.var["train_log1p_std"] = mean, std
    treatments["train_cells"] = np.asarray((dosages[train] > 0).sum(axis=0)).ravel()
    qc_train = adata.obs["qc"].to_numpy()[train]
    adata.obsm["dosages"] = dosages
    adata.obsm["delta_x"] = delta
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
    return adata


def prepared_key(cfg: DataConfig) -> str:
    """The cache key of the prepared data: the data settings and the input files' bytes
    (so a replaced input file is never mistaken for the old one)."""
    return cache_mod.cache_key(
        dataclasses.asdict(cfg), cache_mod.file_digest(cfg.path),
        cache_mod.file_digest(cfg.summary_stats) if cfg.summary_stats else None)


def prepare(config: Config | DataConfig, *, progress: bool = True,
            log: Callable[[str], None] = print, force: bool = False) -> PreparedData:
    """Prepare a screen, or load it from the cache when inputs and settings are unchanged."""
    if isinstance(config, DataConfig):
        config = Config(data=config)
    cfg = config.data
    if not cfg.path:
        raise ConfigError("data.path is not set; give the input file with --set data.path=FILE")
    if not Path(cfg.path).is_file():
        raise InputFileError(f"input file {cfg.path!r} does not exist; check data.path")
    if cfg.summary_stats and not Path(cfg.summary_stats).is_file():
        raise InputFileError(
            f"summary statistics file {cfg.summary_stats!r} does not exist; "
            "check data.summary_stats")
    settings = dataclasses.asdict(cfg)
    key = prepared_key(cfg)
    cache_dir = require_writable_folder(default_cache_dir(config), "the prepared-data cache "
                                        "folder (data.cache_dir or output_dir/cache)")
    remove_stale_temporaries(cache_dir)
    data_path, manifest_path = cache_mod.cache_paths(cache_dir, key)
    manifest = None if force else cache_mod.read_manifest(manifest_path, data_path)
    if manifest is not None:
        log(f"using cached prepared data {data_path} (same input and settings)")
        try:
            cached = read_h5ad(data_path)
        except InputFileError:
            raise InputFileError(
                f"the cached prepared data {str(data_path)!r} is truncated or unreadable; "
                "prepare again with gpo-vae prepare --force (or delete the file)") from None
        return PreparedData(cached, manifest, data_path, from_cache=True)

    log(f"preparing {cfg.path} (preset {cfg.preset})")
    start = time.perf_counter()
    adata = run_preparation(config, progress=progress, log=log)
    write_h5ad_atomic(adata, data_path)
    treatments = adata.uns["treatments"]
    manifest = {
        "version": cache_mod.PREPARE_VERSION,
        "key": key,
        "input": str(cfg.path),
        "summary_stats": cfg.summary_stats,
        "settings": settings,
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "n_perturbed_genes": int((treatments["kind"] == "perturbed").sum()),
        "n_extra_genes": int((treatments["kind"] == "extra").sum()),
        "cells_per_split": {s: int((adata.obs["split"] == s).sum()) for s in SPLITS},
        "seconds": round(time.perf_counter() - start, 1),
        "steps": adata.uns["prepare_report"].to_dict(orient="records"),
    }
    write_json_atomic(manifest_path, manifest)
    log(f"wrote {data_path} ({adata.n_obs:,} cells x {adata.n_vars:,} genes, "
        f"T = {len(treatments)} treatment genes) in {manifest['seconds']} s")
    return PreparedData(adata, manifest, data_path, from_cache=False)


def require_prepared(adata: ad.AnnData) -> None:
    """Raise unless ``adata`` came out of :func:`prepare`."""
    needed = ("dosages", "delta_x")
    if any(k not in adata.obsm for k in needed) or "treatments" not in adata.uns:
        raise InputDataError(
            "this AnnData was not made by `gpo-vae prepare`; run prepare on the raw file first")
