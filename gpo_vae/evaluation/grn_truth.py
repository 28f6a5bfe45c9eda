"""GRN against a known truth (simulated data): AUPRC, AUROC, precision at the number of
true edges, beside the random baseline and two model-free GRN baselines.

The baselines are computed from training cells only, like the model:
- absolute correlation of the two genes' expression over training cells (symmetric);
- the intervention mean shift: |mean of b in a-perturbed cells - mean of b in control
  cells| / sd of b in control cells; it scores *reachability* (a changes b directly or
  through other genes);
- the direct shift: the mean shift with the best single two-step path explained away
  (:func:`direct_shift_scores`), a simple score for *direct* edges.

Every score is ranked against the direct edges and, separately, against reachability
(the transitive closure of the true network).
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


def reachability(truth: pd.DataFrame) -> pd.DataFrame:
    """The transitive closure of a boolean adjacency: a reaches b through any path."""
    import networkx as nx

    graph = nx.from_pandas_adjacency(truth.astype(int), create_using=nx.DiGraph)
    out = pd.DataFrame(False, index=truth.index, columns=truth.columns)
    for source in truth.index:
        out.loc[source, list(nx.descendants(graph, source))] = True
    return out


def direct_shift_scores(shifts: pd.DataFrame) -> pd.DataFrame:
    """Direct-edge scores from signed standardised mean shifts (regulator rows, target
    columns; the diagonal holds each perturbation's effect on its own gene).

    In a linear chain a -> b -> c, knocking a down moves c by about
    ``shift[a, b] * shift[b, c] / shift[b, b]`` (a moves b, and b's own knockdown of size
    ``shift[b, b]`` moves c by ``shift[b, c]``). The score of a -> c is |shift[a, c]|
    minus the best such two-step explanation through one gene b, so effects that pass
    through another perturbed gene rank below direct ones (the first term of a network
    deconvolution, which the full inverse does poorly on noisy shifts).
    """
    t = shifts.to_numpy(dtype=float)
    own = np.diag(t).copy()
    step = np.divide(t, own[:, None], out=np.zeros_like(t), where=own[:, None] != 0)
    off = t.copy()
    np.fill_diagonal(off, 0.0)
    np.fill_diagonal(step, 0.0)
    through = off[:, :, None] * step[None, :, :]                 # (a, b, c): a -> b -> c
    best = np.take_along_axis(through, np.abs(through).argmax(1)[:, None, :], 1)[:, 0]
    direct = np.abs(off - best)
    return pd.DataFrame(direct, index=shifts.index, columns=shifts.columns)


def mean_shift_scores(expression, gene_names: Sequence[str], labels: np.ndarray,
                      control_label: str, genes: Sequence[str],
                      signed: bool = False) -> pd.DataFrame:
    """|standardised mean difference| of b between a-perturbed and control cells, for
    every regulator a (rows) and target b (columns); 0 where a has no cells or b is not
    measured. ``signed`` keeps the sign (perturbed minus control)."""
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
            scores[i] = (block[cells].mean(axis=0) - mu) / sd
    scores[:, ~measured] = 0.0
    scores = scores if signed else np.abs(scores)
    return pd.DataFrame(scores, index=list(genes), columns=list(genes))
