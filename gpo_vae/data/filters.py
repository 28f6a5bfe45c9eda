"""Cell and perturbation filters of the preprocessing pipeline (after QC, before splits).

In pipeline order: keep strong perturbations by published summary statistics, keep
perturbed cells whose target is knocked down, drop perturbations with too few cells,
and find the extra differentially expressed genes to model besides the perturbed ones.
Every filter returns a new AnnData (count matrices stay sparse) and a small report.
"""

from __future__ import annotations

import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import false_discovery_control

from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.stats import rank_sum_vs_reference

# --------------------------------------------------------------------------------------
# Summary statistics (Replogle et al. 2022; Adamson et al. 2016 in the same format)
# --------------------------------------------------------------------------------------

#: Sheet of Replogle's ``summary_stats.xlsx`` per preset; ``adamson`` is a csv file.
SUMMARY_SHEETS = {
    "replogle_k562": "TabB_K562_day6_summary_stat",
    "rpe1": "TabC_RPE1_summary_statistic",
}
SUMMARY_FILES = {"replogle_k562": "summary_stats.xlsx", "rpe1": "summary_stats.xlsx",
                 "adamson": "summary_stats_adamson.csv"}
_SUMMARY_COLUMNS = {
    "genetic perturbation": "perturbation",
    "Number of DEGs (anderson-darling)": "n_degs",
    "percent knockdown": "knockdown_pct",
    "number of cells (filtered)": "n_cells_filtered",
}
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d+")


def load_summary_stats(path, preset: str) -> pd.DataFrame:
    """Per-perturbation summary statistics with normalised columns.

    ``preset`` ``replogle_k562`` / ``rpe1`` read a sheet of Replogle's
    ``summary_stats.xlsx``; ``adamson`` reads ``summary_stats_adamson.csv``. ``path`` is
    the file, or the folder holding it. Returns columns ``perturbation`` (label as
    published), ``gene`` (symbol; Replogle only), ``gene_id`` (Ensembl id), ``n_degs``,
    ``knockdown_pct`` (percent, negative = knockdown) and ``n_cells_filtered``.
    """
    if preset not in SUMMARY_FILES:
        raise ConfigError(
            f"no summary statistics for preset {preset!r}; choose one of "
            f"{', '.join(SUMMARY_FILES)} or turn the strong-perturbation filter off"
        )
    p = Path(path)
    if p.is_dir():
        p = p / SUMMARY_FILES[preset]
    if not p.is_file():
        raise InputDataError(
            f"summary statistics file {str(p)!r} does not exist; point "
            "data.summary_stats at Replogle's summary_stats.xlsx or the Adamson csv"
        )
    try:
        if preset in SUMMARY_SHEETS:
            raw = pd.read_excel(p, sheet_name=SUMMARY_SHEETS[preset])
        else:
            raw = pd.read_csv(p)
    except Exception as exc:  # excel/csv parsers raise many types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputDataError(
            f"cannot read summary statistics {str(p)!r} for preset {preset!r} "
            f"({reason[:120]}); give the published file for this preset"
        ) from exc
    missing = [c for c in _SUMMARY_COLUMNS if c not in raw.columns]
    if missing:
        raise InputDataError(
            f"summary statistics {str(p)!r} lack column(s) {', '.join(map(repr, missing))}; "
            f"give the published Replogle/Adamson file for preset {preset!r}"
        )
    stats = raw[list(_SUMMARY_COLUMNS)].rename(columns=_SUMMARY_COLUMNS)
    stats["perturbation"] = stats["perturbation"].astype(str)
    for column in ("n_degs", "knockdown_pct", "n_cells_filtered"):
        stats[column] = pd.to_numeric(stats[column], errors="coerce")
    # The published files store a fraction (-0.77 = 77% knockdown) under "percent
    # knockdown"; convert to percent unless the file is already in percent.
    if stats["knockdown_pct"].abs().median() <= 1.5:
        stats["knockdown_pct"] = stats["knockdown_pct"] * 100.0
    labels = stats["perturbation"]
    if _ENSEMBL.match(labels[labels != "non-targeting"].iloc[0] if len(labels) else ""):
        stats.insert(1, "gene_id", labels.where(labels.str.match(_ENSEMBL)))
    else:
        # Replogle labels: "<index>_<symbol>_<promoter or transcripts>_<Ensembl id>"
        parts = labels.str.split("_")
        stats.insert(1, "gene", parts.str[1].where(parts.str.len() >= 3, labels))
        last = parts.str[-1]
        stats.insert(2, "gene_id", last.where(last.str.match(_ENSEMBL)))
    return stats


def strong_mask(stats: pd.DataFrame, min_degs: float = 50, max_knockdown: float = -30,
                min_cells: float = 25) -> pd.Series:
    """Rows of ``stats`` passing GPO-VAE's rule: DEGs > ``min_degs``, knockdown_pct <=
    ``max_knockdown`` and filtered cells > ``min_cells`` (missing values fail)."""
    return (
        (stats["n_degs"] > min_degs)
        & (stats["knockdown_pct"] <= max_knockdown)
        & (stats["n_cells_filtered"] > min_cells)
    )


def _stats_key(stats: pd.DataFrame) -> str:
    return "gene" if "gene" in stats.columns else "gene_id"


def strong_perturbations(stats: pd.DataFrame, min_degs: float = 50,
                         max_knockdown: float = -30, min_cells: float = 25) -> set[str]:
    """Keys (symbols, or Ensembl ids for Adamson) of perturbations passing :func:`strong_mask`.

    A gene with several guides/promoters in the table is strong when any of them passes.
    """
    keys = stats.loc[strong_mask(stats, min_degs, max_knockdown, min_cells), _stats_key(stats)]
    return set(keys.dropna().astype(str))


def _dense_columns(matrix, columns, block: int = 8192) -> np.ndarray:
    """Some columns of a (sparse) matrix as a dense float32 array, gathered a block of rows
    at a time: column-indexing a whole CSR matrix makes temporaries as large as it."""
    out = np.empty((matrix.shape[0], len(columns)), dtype=np.float32)
    for start in range(0, matrix.shape[0], block):
        rows = matrix[start : start + block]
        rows = rows[:, columns]
        out[start : start + block] = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
    return out


def subset_cells(adata: ad.AnnData, keep: np.ndarray) -> ad.AnnData:
    """The kept cells as a new AnnData (the input itself when nothing is dropped).

    Built from row-subsets of each matrix rather than ``adata[keep].copy()``: AnnData's
    view copy of a sparse X holds an extra copy of the result (measured: 1.2 GB instead
    of 0.6 GB for a 0.8 GB matrix), which set the pipeline's peak memory on large screens.
    """
    keep = np.asarray(keep, dtype=bool)
    if keep.all():
        return adata
    return ad.AnnData(
        X=adata.X[keep] if adata.X is not None else None,
        obs=adata.obs.iloc[keep].copy(),
        var=adata.var.copy(),
        uns=dict(adata.uns),
        obsm={k: v[keep] for k, v in adata.obsm.items()},
        layers={k: v[keep] for k, v in adata.layers.items()},
        varm=dict(adata.varm),
    )


def _labels(adata: ad.AnnData, key: str) -> pd.Series:
    if key not in adata.obs.columns:
        raise InputDataError(
            f"obs has no column {key!r}; set data.perturbation_key (or data.gene_id_key) "
            "to the column naming each cell's perturbation"
        )
    return adata.obs[key].astype(str)


def filter_strong_perturbations(
    adata: ad.AnnData,
    stats: pd.DataFrame,
    *,
    perturbation_key: str,
    control_label: str,
    gene_id_key: str | None = None,
    min_degs: float = 50,
    max_knockdown: float = -30,
    min_cells: float = 25,
) -> tuple[ad.AnnData, dict]:
    """Keep control cells and cells of strong perturbations (:func:`strong_perturbations`).

    Perturbations are matched by symbol (``obs[perturbation_key]``), or by Ensembl id
    via ``obs[gene_id_key]`` when given and the table has ids. Perturbations absent from
    the table are dropped. Returns the filtered copy and a report.
    """
    keep, report = strong_perturbation_mask(
        adata, stats, perturbation_key=perturbation_key, control_label=control_label,
        gene_id_key=gene_id_key, min_degs=min_degs, max_knockdown=max_knockdown,
        min_cells=min_cells)
    return subset_cells(adata, keep), report


def strong_perturbation_mask(adata: ad.AnnData, stats: pd.DataFrame, *, perturbation_key: str,
                             control_label: str, gene_id_key: str | None = None,
                             min_degs: float = 50, max_knockdown: float = -30,
                             min_cells: float = 25) -> tuple[np.ndarray, dict]:
    """The cells :func:`filter_strong_perturbations` keeps (a boolean mask; only ``obs``
    is read), and its report."""
    labels = _labels(adata, perturbation_key)
    control = (labels == control_label).to_numpy()
    use_id = gene_id_key is not None and "gene_id" in stats.columns
    if not use_id and "gene" not in stats.columns:
        raise InputDataError(
            "the summary statistics are keyed by Ensembl id (Adamson); set "
            "data.gene_id_key to the obs column with each cell's target gene id"
        )
    keys = _labels(adata, gene_id_key) if use_id else labels
    column = "gene_id" if use_id else "gene"
    table_keys = set(stats[column].dropna().astype(str))
    passing = strong_mask(stats, min_degs, max_knockdown, min_cells)
    strong = set(stats.loc[passing, column].dropna().astype(str))
    data_keys = set(keys[~control])
    matched = data_keys & table_keys
    if not matched:
        shown = ", ".join(sorted(data_keys)[:3])
        raise InputDataError(
            f"summary statistics do not match the data: none of its {len(data_keys)} "
            f"perturbations (e.g. {shown}) is in the table by "
            f"{'gene id' if use_id else 'symbol'}; check the preset, data.summary_stats and "
            "data.gene_id_key, or turn the strong-perturbation filter off"
        )
    keep = control | keys.isin(strong).to_numpy()
    kept = sorted(set(labels[keep & ~control]))
    report = {
        "n_perturbations": len(set(labels[~control])),
        "n_matched": len(matched),
        "n_kept": len(kept),
        "unmatched": sorted(data_keys - table_keys),
        "dropped": sorted(set(labels[~control]) - set(kept)),
        "n_cells_kept": int(keep.sum()),
        "n_cells_dropped": int((~keep).sum()),
    }
    return keep, report


# --------------------------------------------------------------------------------------
# Cell-level filters
# --------------------------------------------------------------------------------------


def drop_small_perturbations(
    adata: ad.AnnData, *, perturbation_key: str, control_label: str, min_cells: int
) -> tuple[ad.AnnData, dict]:
    """Drop perturbations with fewer than ``min_cells`` cells (controls are kept).

    Returns the filtered copy and a report (``dropped`` = {label: n_cells}).
    """
    keep, report = small_perturbation_mask(adata, perturbation_key=perturbation_key,
                                           control_label=control_label, min_cells=min_cells)
    return subset_cells(adata, keep), report


def small_perturbation_mask(adata: ad.AnnData, *, perturbation_key: str, control_label: str,
                            min_cells: int) -> tuple[np.ndarray, dict]:
    """The cells :func:`drop_small_perturbations` keeps (a boolean mask), and its report."""
    if min_cells < 0:
        raise ConfigError(f"data.min_cells must be >= 0, not {min_cells!r}")
    labels = _labels(adata, perturbation_key)
    sizes = labels[labels != control_label].value_counts()
    small = sizes[sizes < min_cells]
    keep = ~labels.isin(small.index).to_numpy()
    if not (keep & (labels != control_label).to_numpy()).any():
        raise InputDataError(
            f"every cell was filtered away: no perturbation has {min_cells}+ cells after "
            f"filtering (largest: {int(sizes.max()) if len(sizes) else 0}); lower "
            "data.min_cells or loosen the QC / knockdown filters"
        )
    report = {
        "dropped": {str(k): int(v) for k, v in small.items()},
        "n_kept": int((sizes >= min_cells).sum()),
        "n_cells_dropped": int((~keep).sum()),
    }
    return keep, report


# --------------------------------------------------------------------------------------
# Extra differentially expressed genes
# --------------------------------------------------------------------------------------


def extra_de_genes(
    adata_lognorm: ad.AnnData,
    *,
    perturbation_key: str,
    control_label: str,
    perturbed_genes,
    lfc_threshold: float = 1.0,
    pval_threshold: float = 0.01,
    max_control_cells: int = 2000,
    seed: int = 0,
    expression=None,
) -> list[str]:
    """Genes differentially expressed by any perturbation, besides the perturbed genes.

    Per perturbation: Wilcoxon rank-sum vs (up to ``max_control_cells``, seeded) control
    cells on log-normalised X (:func:`rank_sum_vs_reference`); a gene is selected when
    |log2 fold change| > ``lfc_threshold`` and its Benjamini-Hochberg adjusted p-value
    (over genes, per perturbation) < ``pval_threshold``. Returns var_names of the union,
    without ``perturbed_genes``, most often selected first, then by name.
    ``expression`` (e.g. an on-disk, log-normalising
    :class:`~gpo_vae.data.rows.RowMatrix`) is read instead of ``adata_lognorm.X`` when
    given; the rank sums read it a block of cells at a time.
    """
    labels = _labels(adata_lognorm, perturbation_key)
    codes, uniques = pd.factorize(labels)
    control_code = np.flatnonzero(uniques == control_label)
    control_rows = np.flatnonzero(np.isin(codes, control_code))
    if control_rows.size == 0:
        raise InputDataError(
            f"no control cells ({control_label!r}) in obs[{perturbation_key!r}]; DE genes "
            "are found against controls: set data.control_label to your controls' label"
        )
    rng = np.random.default_rng(seed)
    if control_rows.size > max_control_cells:
        control_rows = np.sort(rng.choice(control_rows, max_control_cells, replace=False))
    X = adata_lognorm.X if expression is None else expression
    X = X if hasattr(X, "blocks") or sp.isspmatrix_csr(X) else sp.csr_matrix(X)
    # compact group codes over perturbations only; controls are ignored (-1)
    groups = [c for c in range(len(uniques)) if c not in set(control_code)]
    remap = np.full(len(uniques), -1)
    remap[groups] = np.arange(len(groups))
    pvals, lfc, _ = rank_sum_vs_reference(X, remap[codes], len(groups), X[control_rows])
    padj = false_discovery_control(pvals, axis=1)
    selected = (padj < pval_threshold) & (np.abs(lfc) > lfc_threshold)
    hits = pd.Series(selected.sum(axis=0), index=adata_lognorm.var_names.astype(str))
    hits = hits[(hits > 0) & ~hits.index.isin(set(map(str, perturbed_genes)))]
    order = sorted(hits.index, key=lambda g: (-int(hits[g]), g))
    return list(order)
