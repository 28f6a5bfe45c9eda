"""GRN against a known truth (simulated data): AUPRC, AUROC, precision at the number of
true edges, beside the random baseline and two model-free GRN baselines.

The baselines are computed from training cells only, like the model:
- absolute correlation of the two genes' expression over training cells (symmetric);
- the intervention mean shift: |mean of b in a-perturbed cells - mean of b in control
  cells| / sd of b in control cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def truth_block(uns: dict, genes: Sequence[str]) -> pd.DataFrame | None:
    """The true adjacency (bool, rows regulate columns) on ``genes``, or None when the
    data carries no truth. Genes missing from the truth have no true edges."""
    truth = uns.get("true_grn_perturbed")
    if truth is None:
        return None
    truth = pd.DataFrame(truth)
    return (truth != 0).reindex(index=list(genes), columns=list(genes), fill_value=False)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(matrix.shape[0], dtype=bool)]


def truth_metrics(scores: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Ranking quality of ``scores`` (T x T, higher = more likely an edge) against the
    boolean ``truth`` on the same genes, off-diagonal pairs only."""
    scores = scores.reindex(index=truth.index, columns=truth.columns)
    y = _off_diagonal(truth.to_numpy(dtype=bool))
    s = _off_diagonal(np.nan_to_num(scores.to_numpy(dtype=float), nan=-np.inf))
    s = np.where(np.isfinite(s), s, np.nanmin(s[np.isfinite(s)]) - 1 if np.isfinite(s).any()
                 else 0.0)
    n_true = int(y.sum())
    if n_true == 0 or n_true == y.size:
        return {"auprc": None, "auroc": None, "precision_at_k": None, "k": n_true,
                "n_true_edges": n_true, "n_pairs": int(y.size),
                "random_auprc": float(y.mean()) if y.size else None}
    top = np.argsort(-s, kind="stable")[:n_true]
    return {
        "auprc": float(average_precision_score(y, s)),
        "auroc": float(roc_auc_score(y, s)),
        "precision_at_k": float(y[top].mean()),
        "k": n_true,
        "n_true_edges": n_true,
        "n_pairs": int(y.size),
        "random_auprc": float(y.mean()),
    }


def pr_curve(scores: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall arrays of ``scores`` against ``truth`` (for plotting)."""
    scores = scores.reindex(index=truth.index, columns=truth.columns)
    y = _off_diagonal(truth.to_numpy(dtype=bool))
    s = _off_diagonal(np.nan_to_num(scores.to_numpy(dtype=float), nan=-1e12))
    precision, recall, _ = precision_recall_curve(y, s)
    return precision, recall


def _columns(expression, gene_names: Sequence[str], genes: Sequence[str]):
    """Dense (cells x len(genes)) block of ``expression`` with zeros for unmeasured genes."""
    position = {g: i for i, g in enumerate(gene_names)}
    cols = np.array([position.get(g, -1) for g in genes])
    measured = cols >= 0
    block = np.zeros((expression.shape[0], len(genes)), dtype=np.float64)
    if measured.any():
        sub = expression[:, cols[measured]]
        block[:, measured] = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    return block, measured


def correlation_scores(expression, gene_names: Sequence[str], genes: Sequence[str]
                       ) -> pd.DataFrame:
    """|Pearson correlation| between the genes' expression over the given cells; 0 for
    unmeasured or constant genes."""
    block, measured = _columns(expression, gene_names, genes)
    std = block.std(axis=0)
    ok = measured & (std > 0)
    corr = np.zeros((len(genes), len(genes)))
    if ok.sum() > 1:
        corr[np.ix_(ok, ok)] = np.abs(np.corrcoef(block[:, ok], rowvar=False))
    return pd.DataFrame(corr, index=list(genes), columns=list(genes))


def mean_shift_scores(expression, gene_names: Sequence[str], labels: np.ndarray,
                      control_label: str, genes: Sequence[str]) -> pd.DataFrame:
    """|standardised mean difference| of b between a-perturbed and control cells, for
    every regulator a (rows) and target b (columns); 0 where a has no cells or b is not
    measured."""
    labels = np.asarray(labels).astype(str)
    block, measured = _columns(expression, gene_names, genes)
    control = block[labels == control_label]
    if control.shape[0] == 0:
        raise ValueError("no control cells to compare the perturbed cells with")
    mu, sd = control.mean(axis=0), control.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)
    scores = np.zeros((len(genes), len(genes)))
    for i, gene in enumerate(genes):
        cells = labels == gene
        if cells.any():
            scores[i] = np.abs(block[cells].mean(axis=0) - mu) / sd
    scores[:, ~measured] = 0.0
    return pd.DataFrame(scores, index=list(genes), columns=list(genes))
