"""GRN against a known truth (simulated data): AUPRC, AUROC, precision at matched edge
counts and calibration of edge probabilities.

Scores are ranked against the direct edges and, separately, against reachability (the
transitive closure of the true network, :func:`reachability`). The model-free scores
they are compared with live in :mod:`gpo_vae.stats.grn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def truth_block(uns: dict, genes: Sequence[str]) -> pd.DataFrame | None:
    """The true network of a screen on ``genes``, when it has one.

    Parameters
    ----------
    uns
        The AnnData's ``uns``: ``true_grn_perturbed`` (what ``gpo-vae simulate`` writes)
        or else ``true_grn``, a square adjacency over gene symbols (non-zero = edge) or
        an edge table with ``source`` and ``target`` columns.
    genes
        The genes of the result, in order.

    Returns
    -------
    DataFrame or None
        Boolean ``genes`` x ``genes`` (rows regulate columns; genes missing from the truth
        have no edges), or None when the data carries no truth.
    """
    truth = uns.get("true_grn_perturbed")
    if truth is None:
        truth = uns.get("true_grn")
    if truth is None:
        return None
    truth = pd.DataFrame(truth)
    if {"source", "target"} <= set(truth.columns):
        edges = truth[["source", "target"]].astype(str)
        truth = pd.crosstab(edges["source"], edges["target"]).astype(bool)
    return (truth != 0).reindex(index=list(genes), columns=list(genes), fill_value=False)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(matrix.shape[0], dtype=bool)]


MATCHED_KS = (50, 100, 500)


def truth_metrics(scores: pd.DataFrame, truth: pd.DataFrame,
                  ks: Sequence[int] = MATCHED_KS) -> dict:
    """Ranking quality of edge scores against a known network, off-diagonal pairs only.

    Parameters
    ----------
    scores
        T x T, higher = more likely an edge (rows regulate columns); NaN ranks last.
    truth
        Boolean T x T on the same genes (:func:`truth_block`).
    ks
        Edge counts K at which the precision of the top K is also reported, so that
        scores are compared at matched edge counts.

    Returns
    -------
    dict
        ``auprc``, ``auroc``, ``precision_at_k`` (the top K = number of true edges),
        ``k``, ``precision_at`` (keyed by K, for the number of true edges and each of
        ``ks`` up to the number of pairs), ``n_true_edges``, ``n_pairs`` and
        ``random_auprc``; the rankings are None when every pair or none is an edge.
    """
    scores = scores.reindex(index=truth.index, columns=truth.columns)
    y = _off_diagonal(truth.to_numpy(dtype=bool))
    s = _off_diagonal(np.nan_to_num(scores.to_numpy(dtype=float), nan=-np.inf))
    s = np.where(np.isfinite(s), s, np.nanmin(s[np.isfinite(s)]) - 1 if np.isfinite(s).any()
                 else 0.0)
    n_true = int(y.sum())
    if n_true == 0 or n_true == y.size:
        return {"auprc": None, "auroc": None, "precision_at_k": None, "k": n_true,
                "precision_at": {}, "n_true_edges": n_true, "n_pairs": int(y.size),
                "random_auprc": float(y.mean()) if y.size else None}
    ranked = y[np.argsort(-s, kind="stable")]
    return {
        "auprc": float(average_precision_score(y, s)),
        "auroc": float(roc_auc_score(y, s)),
        "precision_at_k": float(ranked[:n_true].mean()),
        "k": n_true,
        "precision_at": {str(k): float(ranked[:k].mean()) for k in sorted({n_true, *ks})
                         if k <= y.size},
        "n_true_edges": n_true,
        "n_pairs": int(y.size),
        "random_auprc": float(y.mean()),
    }


def calibration(probabilities: pd.DataFrame, truth: pd.DataFrame, n_bins: int = 10) -> dict:
    """How well edge probabilities match the frequency of true edges.

    Written here rather than with ``sklearn.calibration.calibration_curve`` because that
    drops the bin counts the error is weighted by.

    Parameters
    ----------
    probabilities
        T x T edge probabilities (rows regulate columns); NaN pairs are left out.
    truth
        Boolean T x T on the same genes.
    n_bins
        Equal-width probability bins.

    Returns
    -------
    dict
        ``ece``, the expected calibration error (the count-weighted mean |fraction true -
        mean probability| over the bins; 0 is perfect, so "an edge at 0.9" reads as
        "right about 90% of the time" when it is small); ``bins`` (low, high, n,
        mean_probability, fraction_true); and for the edges at probability >= 0.5 their
        number, precision and mean probability.
    """
    probabilities = probabilities.reindex(index=truth.index, columns=truth.columns)
    y = _off_diagonal(truth.to_numpy(dtype=bool)).astype(float)
    p = _off_diagonal(probabilities.to_numpy(dtype=float))
    finite = np.isfinite(p)                    # pairs without a probability are left out
    y, p = y[finite], np.clip(p[finite], 0, 1)
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    bins, error = [], 0.0
    for b in range(n_bins):
        inside = which == b
        if not inside.any():
            continue
        mean_p, frac = float(p[inside].mean()), float(y[inside].mean())
        error += inside.sum() / max(p.size, 1) * abs(frac - mean_p)
        bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": int(inside.sum()),
                     "mean_probability": mean_p, "fraction_true": frac})
    confident = p >= 0.5
    return {"ece": float(error), "bins": bins,
            "n_at_least_half": int(confident.sum()),
            "precision_at_least_half": float(y[confident].mean()) if confident.any() else None,
            "mean_probability_at_least_half": float(p[confident].mean()) if confident.any()
            else None}


def pr_curve(scores: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall arrays of ``scores`` against ``truth`` (for plotting)."""
    scores = scores.reindex(index=truth.index, columns=truth.columns)
    y = _off_diagonal(truth.to_numpy(dtype=bool))
    s = _off_diagonal(np.nan_to_num(scores.to_numpy(dtype=float), nan=-1e12))
    precision, recall, _ = precision_recall_curve(y, s)
    return precision, recall


def reachability(truth: pd.DataFrame) -> pd.DataFrame:
    """The transitive closure of a boolean adjacency: a reaches b through any path."""
    import networkx as nx

    graph = nx.from_pandas_adjacency(truth.astype(int), create_using=nx.DiGraph)
    out = pd.DataFrame(False, index=truth.index, columns=truth.columns)
    for source in truth.index:
        out.loc[source, list(nx.descendants(graph, source))] = True
    return out
