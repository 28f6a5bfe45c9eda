"""A registry of ATE metrics; each entry says what it measures and whether higher or
lower is better (verdicts and sweeps read that instead of hard-coding names).

Most compare a predicted ATE vector with the data ATE vector of one perturbation (genes
in the same order) and return a float (``scope="perturbation"``). Some need every
scored perturbation at once (``scope="set"``: perturbations x genes arrays in, one value
per perturbation out): the rank metric, and the Pearson of perturbation-specific effects
that removes what all perturbations share (systematic variation).

``scope="de"`` metrics read the data's DE genes too (a boolean vector per perturbation,
from :func:`gpo_vae.evaluation.de.de_genes`): cell-eval's DE-aware scores on ATE
vectors. A prediction of mean effects has no p-values, so its "DE genes" are its genes
ranked by |predicted ATE|; without DE genes (none given, or none found) they are NaN.

``top20`` metrics look at the 20 genes with the largest |data ATE|; Jaccard compares the
top-k genes by |predicted ATE| with the top-k genes by |data ATE|.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

AteMetricFunction = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    """A registered ATE metric: ``function(predicted, observed)``, on one perturbation's
    vectors (-> float) or, with ``scope="set"``, on perturbations x genes arrays (-> one
    value per perturbation)."""

    name: str
    function: Callable
    description: str
    best: Literal["higher", "lower"]
    best_value: float
    headline: bool = False   # stated in the report's verdicts against each baseline
    scope: Literal["perturbation", "set", "de"] = "perturbation"

    def __call__(self, predicted: np.ndarray, observed: np.ndarray, *extra) -> float:
        return self.function(predicted, observed, *extra)

    def better(self, a: float, b: float) -> bool:
        """Is ``a`` better than ``b``?"""
        return a > b if self.best == "higher" else a < b


ATE_METRICS: dict[str, Metric] = {}


def register_metric(name: str, description: str, best: Literal["higher", "lower"] = "higher",
                    best_value: float = 1.0, headline: bool = False,
                    scope: Literal["perturbation", "set", "de"] = "perturbation"
                    ) -> Callable[[Callable], Callable]:
    """Add a metric ``f(predicted, observed)`` to :data:`ATE_METRICS`.

    Parameters
    ----------
    name
        Its key in results (``ate.<method>.<name>``).
    description
        One line saying what it measures.
    best
        Whether ``higher`` or ``lower`` values are better.
    best_value
        The value of a perfect prediction.
    headline
        Whether the report's verdicts compare the model with each baseline on it.
    scope
        ``perturbation``: ``f`` takes one perturbation's predicted and observed vectors
        and returns a float; ``set``: ``f`` takes perturbations x genes arrays (the
        scored perturbations, rows in the same order) and returns one value per row;
        ``de``: ``f(predicted, observed, is_de)`` on one perturbation's vectors and its
        boolean vector of the data's DE genes.
    """
    if best not in ("higher", "lower"):
        raise ValueError(f"best must be 'higher' or 'lower', not {best!r}")
    if scope not in ("perturbation", "set", "de"):
        raise ValueError(f"scope must be 'perturbation', 'set' or 'de', not {scope!r}")

    def add(function: Callable) -> Callable:
        if name in ATE_METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        ATE_METRICS[name] = Metric(name, function, description, best, best_value, headline,
                                   scope)
        return function
    return add


def top_genes(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest |values| (ties broken by position)."""
    return np.argsort(-np.abs(values), kind="stable")[:k]


def pearson(predicted: np.ndarray, observed: np.ndarray) -> float:
    """Pearson correlation; NaN when either vector is constant."""
    p, o = predicted - predicted.mean(), observed - observed.mean()
    denominator = np.sqrt((p * p).sum() * (o * o).sum())
    return float((p * o).sum() / denominator) if denominator > 0 else float("nan")


def r_squared(predicted: np.ndarray, observed: np.ndarray) -> float:
    """Coefficient of determination of ``predicted`` for ``observed`` (can be negative)."""
    total = ((observed - observed.mean()) ** 2).sum()
    if total == 0:
        return float("nan")
    return float(1.0 - ((observed - predicted) ** 2).sum() / total)


def jaccard_top(predicted: np.ndarray, observed: np.ndarray, k: int) -> float:
    """Jaccard index of the top-k gene sets by |predicted| and by |observed|."""
    a, b = set(top_genes(predicted, k).tolist()), set(top_genes(observed, k).tolist())
    return len(a & b) / len(a | b) if a | b else float("nan")


@register_metric("pearson_all",
                 "Pearson correlation of predicted and observed ATEs over all genes",
                 headline=True)
def pearson_all(predicted, observed):
    return pearson(predicted, observed)


@register_metric("pearson_top20",
                 "Pearson correlation over the 20 genes with the largest |observed ATE|",
                 headline=True)
def pearson_top20(predicted, observed):
    top = top_genes(observed, 20)
    return pearson(predicted[top], observed[top])


@register_metric("r2_all",
                 "R^2 of the predicted ATEs for the observed ones over all genes")
def r2_all(predicted, observed):
    return r_squared(predicted, observed)


@register_metric("r2_top20",
                 "R^2 over the 20 genes with the largest |observed ATE|")
def r2_top20(predicted, observed):
    top = top_genes(observed, 20)
    return r_squared(predicted[top], observed[top])


@register_metric("jaccard_top20",
                 "overlap (Jaccard) of the top-20 genes by |predicted| and by |observed| ATE")
def jaccard_top20(predicted, observed):
    return jaccard_top(predicted, observed, 20)


@register_metric("jaccard_top50",
                 "overlap (Jaccard) of the top-50 genes by |predicted| and by |observed| ATE")
def jaccard_top50(predicted, observed):
    return jaccard_top(predicted, observed, 50)


@register_metric("mse_all", "mean squared error of the predicted ATEs over all genes",
                 best="lower", best_value=0.0)
def mse_all(predicted, observed):
    return float(np.mean((predicted - observed) ** 2))


@register_metric("pearson_specific_all",
                 "Pearson over all genes of the perturbation-specific effects: each ATE "
                 "minus the mean ATE of all scored perturbations, predicted and observed "
                 "(Systema's correction; a prediction of only the shared shift scores 0)",
                 scope="set")
def pearson_specific_all(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    if len(observed) < 2:
        return np.full(len(observed), np.nan)
    p = predicted - predicted.mean(axis=0)
    o = observed - observed.mean(axis=0)
    # no specific effect predicted (up to rounding): 0, not the correlation of round-off
    flat = np.abs(p).max(axis=1) <= 1e-9 * max(float(np.abs(predicted).max()), 1e-12)
    return np.array([0.0 if f else pearson(a, b) for a, b, f in zip(p, o, flat, strict=True)])


@register_metric("rank",
                 "where the perturbation's own observed profile ranks among all scored "
                 "perturbations' observed profiles by distance to its prediction "
                 "(0 = nearest, 0.5 = no better than chance; a collapsed model that "
                 "predicts one profile for all scores 0.5)",
                 best="lower", best_value=0.0, scope="set")
def rank(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    n = len(observed)
    if n < 2:
        return np.full(n, np.nan)
    # squared distances of every prediction to every observed profile, by one product
    distance = ((predicted ** 2).sum(1)[:, None] + (observed ** 2).sum(1)[None, :]
                - 2.0 * predicted @ observed.T)
    own = np.diag(distance)[:, None]
    others = ~np.eye(n, dtype=bool)
    closer = ((distance < own) & others).sum(1) + 0.5 * ((distance == own) & others).sum(1)
    return closer / (n - 1)


@register_metric("de_overlap",
                 "share of the data's DE genes among the top-N genes by |predicted ATE|, "
                 "N = the number of DE genes (cell-eval's overlap at N: precision and "
                 "recall of the DE genes at the data's count)", scope="de")
def de_overlap(predicted: np.ndarray, observed: np.ndarray, is_de: np.ndarray) -> float:
    n = int(is_de.sum())
    if n == 0:
        return float("nan")
    return float(is_de[top_genes(predicted, n)].mean())


@register_metric("de_pr_auc",
                 "area under the precision-recall curve of |predicted ATE| as a score for "
                 "the data's DE genes (average precision; cell-eval's pr_auc; random = the "
                 "share of DE genes)", scope="de")
def de_pr_auc(predicted: np.ndarray, observed: np.ndarray, is_de: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if not 0 < is_de.sum() < is_de.size:
        return float("nan")
    return float(average_precision_score(is_de, np.abs(predicted)))


@register_metric("de_direction_match",
                 "share of the data's DE genes whose predicted ATE has the observed sign "
                 "(cell-eval's direction match)", scope="de")
def de_direction_match(predicted: np.ndarray, observed: np.ndarray, is_de: np.ndarray) -> float:
    if not is_de.any():
        return float("nan")
    return float((np.sign(predicted[is_de]) == np.sign(observed[is_de])).mean())


@register_metric("de_spearman_lfc",
                 "Spearman correlation of predicted and observed ATEs over the data's DE "
                 "genes (cell-eval's Spearman of fold changes)", scope="de")
def de_spearman_lfc(predicted: np.ndarray, observed: np.ndarray, is_de: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if is_de.sum() < 2:
        return float("nan")
    p, o = predicted[is_de], observed[is_de]
    if np.ptp(p) == 0 or np.ptp(o) == 0:
        return float("nan")
    return float(spearmanr(p, o).statistic)


def score_ates(predicted: pd.DataFrame, observed: pd.DataFrame,
               metrics: dict[str, Metric] | None = None,
               de: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every metric for every perturbation (rows of ``observed``); NaN where the
    prediction is missing. Set-scope metrics are computed over the perturbations that
    have both a prediction and an observation; DE-scope metrics need ``de``, the data's
    DE genes (perturbations x genes, bool; :func:`gpo_vae.evaluation.de.de_genes`), and
    are NaN without it. Gene columns must match."""
    metrics = ATE_METRICS if metrics is None else metrics
    if list(predicted.columns) != list(observed.columns):
        raise ValueError("predicted and observed ATEs have different genes")
    if de is not None and list(de.columns) != list(observed.columns):
        raise ValueError("the DE genes and the observed ATEs have different genes")
    predicted = predicted.reindex(observed.index)
    p_all, o_all = predicted.to_numpy(float), observed.to_numpy(float)
    complete = ~(np.isnan(p_all).any(axis=1) | np.isnan(o_all).any(axis=1))
    out = pd.DataFrame(np.nan, index=observed.index, columns=list(metrics))
    for name, metric in metrics.items():
        if metric.scope == "set":
            if complete.any():
                out.loc[complete, name] = metric(p_all[complete], o_all[complete])
            continue
        if metric.scope == "de":
            if de is not None:
                is_de = de.reindex(observed.index).fillna(False).to_numpy(bool)
                out.loc[complete, name] = [metric(p, o, d) for p, o, d in zip(
                    p_all[complete], o_all[complete], is_de[complete], strict=True)]
            continue
        out.loc[complete, name] = [metric(p, o) for p, o in
                                   zip(p_all[complete], o_all[complete], strict=True)]
    return out


def aggregate_scores(scores: pd.DataFrame) -> dict[str, float | None]:
    """Mean of each metric over the perturbations that have a value (None if none)."""
    out = {}
    for column in scores.columns:
        values = scores[column].dropna()
        out[column] = float(values.mean()) if len(values) else None
    return out
