"""A small registry of ATE metrics: each compares a predicted ATE vector with the data
ATE vector of one perturbation (genes in the same order) and returns a float.

``top20`` metrics look at the 20 genes with the largest |data ATE|; Jaccard compares the
top-k genes by |predicted ATE| with the top-k genes by |data ATE|.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

AteMetric = Callable[[np.ndarray, np.ndarray], float]
ATE_METRICS: dict[str, AteMetric] = {}


def register_metric(name: str) -> Callable[[AteMetric], AteMetric]:
    """Add a metric ``f(predicted, observed) -> float`` to :data:`ATE_METRICS`."""
    def add(function: AteMetric) -> AteMetric:
        if name in ATE_METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        ATE_METRICS[name] = function
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


@register_metric("pearson_all")
def pearson_all(predicted, observed):
    return pearson(predicted, observed)


@register_metric("pearson_top20")
def pearson_top20(predicted, observed):
    top = top_genes(observed, 20)
    return pearson(predicted[top], observed[top])


@register_metric("r2_all")
def r2_all(predicted, observed):
    return r_squared(predicted, observed)


@register_metric("r2_top20")
def r2_top20(predicted, observed):
    top = top_genes(observed, 20)
    return r_squared(predicted[top], observed[top])


@register_metric("jaccard_top20")
def jaccard_top20(predicted, observed):
    return jaccard_top(predicted, observed, 20)


@register_metric("jaccard_top50")
def jaccard_top50(predicted, observed):
    return jaccard_top(predicted, observed, 50)


def score_ates(predicted: pd.DataFrame, observed: pd.DataFrame,
               metrics: dict[str, AteMetric] | None = None) -> pd.DataFrame:
    """Every metric for every perturbation (rows of ``observed``); NaN where the
    prediction is missing. Gene columns must match."""
    metrics = ATE_METRICS if metrics is None else metrics
    if list(predicted.columns) != list(observed.columns):
        raise ValueError("predicted and observed ATEs have different genes")
    predicted = predicted.reindex(observed.index)
    rows = []
    for name in observed.index:
        p, o = predicted.loc[name].to_numpy(float), observed.loc[name].to_numpy(float)
        if np.isnan(p).any() or np.isnan(o).any():
            rows.append({m: float("nan") for m in metrics})
        else:
            rows.append({m: f(p, o) for m, f in metrics.items()})
    return pd.DataFrame(rows, index=observed.index, columns=list(metrics))


def aggregate_scores(scores: pd.DataFrame) -> dict[str, float | None]:
    """Mean of each metric over the perturbations that have a value (None if none)."""
    out = {}
    for column in scores.columns:
        values = scores[column].dropna()
        out[column] = float(values.mean()) if len(values) else None
    return out
