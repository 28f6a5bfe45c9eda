"""The data's differentially expressed (DE) genes per perturbation, for the DE-aware
metrics: each perturbation's cells against the control cells of the same split, by
scanpy's Wilcoxon rank-sum test with Benjamini-Hochberg correction (cell-eval calls DE
genes the same way, with its own Wilcoxon implementation, at FDR < 0.05).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

DE_FDR = 0.05


def de_genes(expression, labels: np.ndarray, control_label: str, gene_names: Sequence[str],
             perturbations: Sequence[str], fdr: float = DE_FDR) -> pd.DataFrame:
    """Which genes each perturbation changes (perturbations x genes, bool).

    Parameters
    ----------
    expression
        Transformed expression (cells x genes, sparse or dense) of one split's cells.
    labels
        Each cell's perturbation label.
    control_label
        The label of control cells (the reference of every test).
    gene_names
        Column names of the result.
    perturbations
        The rows; a perturbation with fewer than 2 cells gets an all-False row.
    fdr
        Benjamini-Hochberg adjusted p-value below which a gene is DE.

    Returns
    -------
    DataFrame
        True where the gene is DE for the perturbation.
    """
    import anndata as ad
    import scanpy as sc

    labels = np.asarray(labels).astype(str)
    perturbations = list(perturbations)
    out = pd.DataFrame(False, index=pd.Index(perturbations, name="perturbation"),
                       columns=list(gene_names))
    counts = pd.Series(labels).value_counts()
    testable = [p for p in perturbations if counts.get(p, 0) >= 2]
    if not testable or counts.get(control_label, 0) < 2:
        return out
    keep = np.isin(labels, [control_label, *testable])
    cells = ad.AnnData(X=expression[keep].astype(np.float32),
                       obs=pd.DataFrame({"label": pd.Categorical(labels[keep])},
                                        index=np.arange(int(keep.sum())).astype(str)))
    cells.var_names = [str(i) for i in range(cells.n_vars)]  # gene symbols may repeat
    # scanpy warns about log fold changes of all-zero genes (not used here) and about its
    # own fragmented result frames (PerformanceWarning, a subclass of Warning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        sc.tl.rank_genes_groups(cells, "label", groups=testable, reference=control_label,
                                method="wilcoxon", tie_correct=True, key_added="de")
    result = cells.uns["de"]
    for perturbation in testable:
        genes = np.asarray(result["names"][perturbation]).astype(int)
        adjusted = np.asarray(result["pvals_adj"][perturbation], dtype=float)
        row = np.zeros(cells.n_vars, dtype=bool)
        row[genes[adjusted < fdr]] = True
        out.loc[perturbation] = row
    return out
