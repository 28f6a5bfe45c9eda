"""Log-normalisation and per-group means of AnnData, kept sparse (see gpo_vae.stats)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae import stats
from gpo_vae.data.schema import counts_matrix, gene_symbols


def log_normalize(
    adata: ad.AnnData,
    counts_layer: str | None = None,
    gene_symbol_key: str | None = None,
    target_sum: float = 1e4,
) -> ad.AnnData:
    """A new AnnData with ``log1p(target_sum * x / total)`` in X (sparse stays sparse),
    gene symbols as var_names and the original obs."""
    return ad.AnnData(
        X=stats.log_normalize(counts_matrix(adata, counts_layer), target_sum),
        obs=adata.obs.copy(),
        var=pd.DataFrame(index=gene_symbols(adata, gene_symbol_key)),
    )


def group_means(adata: ad.AnnData, key: str) -> pd.DataFrame:
    """Mean of X per value of ``obs[key]`` (groups x genes), by :func:`gpo_vae.stats.group_means`;
    groups with cells, in category order (sorted unless ``obs[key]`` is categorical)."""
    labels = pd.Categorical(adata.obs[key]).remove_unused_categories()
    groups = pd.Index(labels.categories.astype(str))
    means, _ = stats.group_means(adata.X, np.asarray(labels.astype(str)), groups)
    return pd.DataFrame(means, index=groups, columns=adata.var_names)


def treatment_pseudobulk_shifts(prepared: ad.AnnData, split: str = "train",
                                target_sum: float = 1e4) -> tuple[np.ndarray, np.ndarray]:
    """Per treatment row t, the mean of ``log1p(target_sum * x / library)`` over the cells
    of ``split`` whose only treatment is t, minus the same mean over the split's control
    cells: ``(shifts (T x G) float32, cells per row (T,))``. Rows with no such cell (extra
    genes, combinations only, held-out perturbations) are zero with a count of 0.

    Written here rather than with ``scanpy.get.aggregate`` because the groups are rows of
    the dosage matrix, not an ``obs`` column, and the matrix stays sparse throughout.
    """
    import scipy.sparse as sp

    from gpo_vae.data.rows import counts_of

    cells = np.flatnonzero(prepared.obs["split"].astype(str).to_numpy() == split)
    dosages = sp.csr_matrix(prepared.obsm["dosages"][cells])
    n_treatments, n_genes = dosages.shape[1], prepared.n_vars
    n_nonzero = np.diff(dosages.indptr)
    library = prepared.obs["library_size"].to_numpy()[cells]
    single = n_nonzero == 1
    # group g of each cell: its single treatment, n_treatments for controls, -1 otherwise
    group = np.full(cells.size, -1, dtype=np.int64)
    group[single] = dosages.indices[dosages.indptr[np.flatnonzero(single)]]
    group[n_nonzero == 0] = n_treatments
    kept = np.flatnonzero(group >= 0)
    n_cells = np.bincount(group[kept], minlength=n_treatments + 1)
    shifts = np.zeros((n_treatments, n_genes), dtype=np.float32)
    if n_cells[n_treatments] == 0:
        return shifts, np.zeros(n_treatments, dtype=np.int64)
    # summed a row block at a time, so a backed (out-of-core) screen is never held whole
    counts = counts_of(prepared).subset(cells[kept])
    sums = np.zeros((n_treatments + 1, n_genes))
    for start, block in counts.blocks():
        rows = slice(start, start + block.shape[0])
        expression = stats.log1p_per_library(block, library[kept][rows], target_sum)
        indicator = sp.csr_matrix(
            (np.ones(expression.shape[0]), (group[kept][rows], np.arange(expression.shape[0]))),
            shape=(n_treatments + 1, expression.shape[0]))
        sums += (indicator @ expression).toarray()
    control_mean = sums[n_treatments] / n_cells[n_treatments]
    n_cells = n_cells[:n_treatments]
    has = n_cells > 0
    shifts[has] = sums[:n_treatments][has] / n_cells[has, None] - control_mean
    return shifts, n_cells.astype(np.int64)
