"""A registry of ATE metrics: each compares a predicted ATE vector with the data ATE
vector of one perturbation (genes in the same order) and returns a float; each entry
says what it measures and whether higher or lower is better (verdicts and sweeps read
that instead of hard-coding names).

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
    """A registered ATE metric: ``function(predicted, observed) -> float``."""

    name: str
    function: AteMetricFunction
    description: str
    best: Literal["higher", "lower"]
    best_value: float
    headline: bool = False   # stated in the report's verdicts against each baseline

    def __call__(self, predicted: np.ndarray, observed: np.ndarray) -> float:
        return self.function(predicted, observed)

    def better(self, a: float, b: float) -> bool:
        """Is ``a`` better than ``b``?"""
        return a > b if self.best == "higher" else a < b


ATE_METRICS: dict[str, Metric] = {}


def register_metric(name: str, description: str, best: Literal["higher", "lower"] = "higher",
                    best_value: float = 1.0, headline: bool = False
                    ) -> Callable[[AteMetricFunction], AteMetricFunction]:
    """Add a metric ``f(predicted, observed) -> float`` to :data:`ATE_METRICS`.

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
    """
    if best not in ("higher", "lower"):
        raise ValueError(f"best must be 'higher' or 'lower', not {best!r}")

    def add(function: AteMetricFunction) -> AteMetricFunction:
        if name in ATE_METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        ATE_METRICS[name] = Metric(name, function, description, best, best_value, headline)
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


def score_ates(predicted: pd.DataFrame, observed: pd.DataFrame,
               metrics: dict[str, Metric] | None = None) -> pd.DataFrame:
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
