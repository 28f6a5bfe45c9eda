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


def _ranking_inputs(scores: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """(T, T) finite scores on the truth's genes (NaN and -inf rank last, +inf first:
    scikit-learn's rankings refuse non-finite values) and the boolean truth."""
    s = scores.reindex(index=truth.index, columns=truth.columns).to_numpy(dtype=float)
    finite = np.isfinite(s)
    low, high = (s[finite].min() - 1, s[finite].max() + 1) if finite.any() else (0.0, 1.0)
    s = np.where(np.isposinf(s), high, np.where(finite, s, low))
    return s, truth.to_numpy(dtype=bool)


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
    s, y = (_off_diagonal(m) for m in _ranking_inputs(scores, truth))
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
    s, y = (_off_diagonal(m) for m in _ranking_inputs(scores, truth))
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




def paired_auprc(scores_a: pd.DataFrame, scores_b: pd.DataFrame, truth: pd.DataFrame, *,
                 n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """Is ``scores_a``'s AUPRC against ``truth`` really above ``scores_b``'s? A paired
    bootstrap over regulators.

    Edges of one regulator share its noise, so the unit resampled is a regulator (a row
    with all its off-diagonal pairs), drawn with replacement; both scores are ranked on
    the same draw. The verdict follows :func:`gpo_vae.evaluation.compare.
    paired_comparison`'s rule: a difference counts only when the percentile interval
    excludes zero and the two-sided bootstrap p-value is below ``1 - confidence``.

    Returns
    -------
    dict
        ``mean_difference`` (a - b on all regulators), ``ci_low``, ``ci_high``,
        ``p_value``, ``n`` (regulators) and ``verdict`` (``beats``, ``LOSES TO`` or
        ``ties``); empty when the truth has no edge or every pair is one.
    """
    a, y = _ranking_inputs(scores_a, truth)
    b, _ = _ranking_inputs(scores_b, truth)
    off = ~np.eye(y.shape[0], dtype=bool)
    if not 0 < y[off].sum() < off.sum():
        return {}

    def difference(rows: np.ndarray) -> float:
        keep = off[rows]
        truth_rows = y[rows][keep]
        if not 0 < truth_rows.sum() < truth_rows.size:
            return np.nan
        return float(average_precision_score(truth_rows, a[rows][keep])
                     - average_precision_score(truth_rows, b[rows][keep]))

    n = y.shape[0]
    rng = np.random.default_rng(seed)
    draws = np.array([difference(rng.integers(0, n, n)) for _ in range(n_resamples)])
    draws = draws[np.isfinite(draws)]
    alpha = 1.0 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2 * max(min((draws <= 0).mean(), (draws >= 0).mean()),
                               1 / draws.size))
    mean = difference(np.arange(n))
    decided = (low > 0 or high < 0) and p_value < alpha
    verdict = ("beats" if mean > 0 else "LOSES TO") if decided else "ties"
    return {"mean_difference": mean, "ci_low": float(low), "ci_high": float(high),
            "p_value": float(p_value), "n": int(n), "verdict": verdict}


def against_baselines(scores: pd.DataFrame, truth: pd.DataFrame,
                      baselines: dict[str, pd.DataFrame], *, seed: int = 0) -> dict:
    """:func:`truth_metrics` of ``scores`` beside each model-free baseline's, with a paired
    bootstrap verdict of the AUPRCs (:func:`paired_auprc`), against the direct edges and
    against reachability (:func:`reachability`).

    Returns
    -------
    dict
        The keys of :func:`truth_metrics`, ``calibration``, ``baseline_<key>_<metric>``,
        ``paired_<key>_auprc`` and ``reachability`` (its AUPRC, AUROC, random AUPRC,
        ``n_true_pairs`` and each baseline's AUPRC).
    """
    metrics = truth_metrics(scores, truth)
    metrics["calibration"] = calibration(scores, truth)
    reach = reachability(truth)
    reached = truth_metrics(scores, reach)
    metrics["reachability"] = {k: reached[k] for k in ("auprc", "auroc", "random_auprc")}
    metrics["reachability"]["n_true_pairs"] = reached["n_true_edges"]
    for key, baseline_scores in baselines.items():
        baseline = truth_metrics(baseline_scores, truth)
        for name in ("auprc", "auroc", "precision_at_k", "precision_at"):
            metrics[f"baseline_{key}_{name}"] = baseline[name]
        metrics[f"paired_{key}_auprc"] = paired_auprc(scores, baseline_scores, truth,
                                                      seed=seed)
        metrics["reachability"][f"baseline_{key}_auprc"] = \
            truth_metrics(baseline_scores, reach)["auprc"]
    return metrics
