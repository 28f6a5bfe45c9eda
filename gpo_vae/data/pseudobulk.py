"""Log-normalisation and per-group means, kept sparse (scanpy does the work)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from gpo_vae.data.schema import counts_matrix, gene_symbols


def log_normalize(
    adata: ad.AnnData,
    counts_layer: str | None = None,
    gene_symbol_key: str | None = None,
    target_sum: float = 1e4,
) -> ad.AnnData:
    """A new AnnData with ``log1p(target_sum * x / total)`` in X (sparse stays sparse),
    gene symbols as var_names and the original obs."""
    out = ad.AnnData(
        X=counts_matrix(adata, counts_layer).copy(),
        obs=adata.obs.copy(),
        var=pd.DataFrame(index=gene_symbols(adata, gene_symbol_key)),
    )
    out.X = out.X.astype(np.float32)
    sc.pp.normalize_total(out, target_sum=target_sum)
    sc.pp.log1p(out)
    return out


def group_means(adata: ad.AnnData, key: str) -> pd.DataFrame:
    """Mean of X per value of ``obs[key]`` (groups x genes), via ``scanpy.get.aggregate``."""
    aggregated = sc.get.aggregate(adata, by=key, func="mean")
    return aggregated.to_df(layer="mean")


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
    library = prepared.obs["library_size"].to_numpy()[cells].astype(np.float64)
    expression = sp.csr_matrix(prepared.X[cells], dtype=np.float64)
    expression = sp.diags(target_sum / np.maximum(library, 1.0)) @ expression
    expression.data = np.log1p(expression.data)
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
