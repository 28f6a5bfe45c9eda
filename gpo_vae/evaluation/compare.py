"""Is a difference between two methods real? Paired comparisons over perturbations.

Two methods scored on the same perturbations give paired values of a metric. The
comparison reports the mean difference with a bootstrap confidence interval over
perturbations (``scipy.stats.bootstrap``) and a Wilcoxon signed-rank p-value
(``scipy.stats.wilcoxon``), and says in words whether one method beats the other: only
when the interval excludes zero *and* the test rejects equality; otherwise the
difference is no result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class PairedComparison:
    """One metric, method ``a`` against method ``b`` on the same perturbations."""

    metric: str
    a: str
    b: str
    n: int                   # perturbations scored by both
    mean_a: float
    mean_b: float
    mean_difference: float   # mean of a - b
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str             # "a beats b", "a LOSES TO b" or "no difference ..."

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def paired_comparison(a, b, *, metric: str = "metric", names: tuple[str, str] = ("a", "b"),
                      best: Literal["higher", "lower"] = "higher",
                      confidence: float = 0.95, n_resamples: int = 2000,
                      seed: int = 0) -> PairedComparison:
    """Compare two methods' per-perturbation values of one metric.

    Parameters
    ----------
    a, b
        The two methods' values, one per perturbation in the same order; pairs with a
        missing value in either are left out.
    metric
        The metric's name (for the verdict).
    names
        The two methods' names.
    best
        Whether higher or lower values of the metric are better (the registry's
        ``Metric.best``).
    confidence
        Level of the bootstrap interval of the mean difference.
    n_resamples
        Bootstrap resamples (of perturbations, with replacement).
    seed
        Seed of the bootstrap, so the same call gives the same interval.

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> c = paired_comparison(model_scores, baseline_scores, metric="pearson_top20",
    ...                       names=("GPO-VAE", "pert mean"))     # doctest: +SKIP
    >>> c.verdict                                                 # doctest: +SKIP
    'no difference beyond noise between GPO-VAE and pert mean on pearson_top20 (...)'
    """
    from scipy.stats import bootstrap, wilcoxon

    if best not in ("higher", "lower"):
        raise ValueError(f"best must be 'higher' or 'lower', not {best!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length ({a.size} and {b.size})")
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    difference = a - b
    n = int(difference.size)
    nan = float("nan")
    if n < 2:
        return PairedComparison(metric, *names, n, _mean(a), _mean(b), _mean(difference),
                                nan, nan, nan, f"too few paired values ({n}) to compare "
                                f"{names[0]} and {names[1]} on {metric}")
    if not np.any(difference):
        low = high = 0.0
        p_value = 1.0
    else:
        interval = bootstrap((difference,), np.mean, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile",
                             random_state=np.random.default_rng(seed)).confidence_interval
        low, high = float(interval.low), float(interval.high)
        p_value = float(wilcoxon(difference).pvalue)
    mean = float(difference.mean())
    summary = (f"{mean:+.3f}, {confidence:.0%} interval [{low:+.3f}, {high:+.3f}], "
               f"p = {p_value:.2g}, {n} perturbations")
    alpha = 1.0 - confidence
    if (low > 0 or high < 0) and p_value < alpha:
        a_better = (mean > 0) == (best == "higher")
        word = "beats" if a_better else "LOSES TO"
        verdict = f"{names[0]} {word} {names[1]} on {metric} ({summary})"
    else:
        verdict = (f"no difference beyond noise between {names[0]} and {names[1]} on "
                   f"{metric} ({summary})")
    return PairedComparison(metric, *names, n, _mean(a), _mean(b), mean, low, high,
                            p_value, verdict)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")
