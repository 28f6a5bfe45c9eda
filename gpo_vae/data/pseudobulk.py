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
