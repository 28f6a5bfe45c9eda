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

    cells = np.flatnonzero(prepared.obs["split"].astype(str).to_numpy() == split)
    dosages = sp.csr_matrix(prepared.obsm["dosages"][cells])
    n_treatments = dosages.shape[1]
    n_nonzero = np.diff(dosages.indptr)
    library = prepared.obs["library_size"].to_numpy()[cells]
    expression = stats.log1p_per_library(prepared.X[cells], library, target_sum)
    single = n_nonzero == 1
    rows = np.flatnonzero(single)
    group = dosages.indices[dosages.indptr[rows]]
    indicator = sp.csr_matrix((np.ones(rows.size), (group, rows)),
                              shape=(n_treatments, cells.size))
    n_cells = np.asarray(indicator.sum(axis=1)).ravel()
    sums = np.asarray((indicator @ expression).todense())
    control = n_nonzero == 0
    shifts = np.zeros((n_treatments, expression.shape[1]), dtype=np.float32)
    if not control.any():
        return shifts, np.zeros(n_treatments, dtype=np.int64)
    control_mean = np.asarray(expression[control].mean(axis=0)).ravel()
    has = n_cells > 0
    shifts[has] = sums[has] / n_cells[has, None] - control_mean
    return shifts, n_cells.astype(np.int64)
