"""Empirical-Bayes shrinkage of noisy mean shifts toward a prior, entry by entry.

One home for the rule that GPO-VAE's pseudobulk targets use (``loss.knockdown_shrinkage``,
``loss.shrinkage``) and that ``benchmarks/shrinkage_check.py`` scores model-free.
"""

from __future__ import annotations

import numpy as np


def signal_share(values: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``clip(1 - noise / values^2, 0, 1)``: the share of each value that is signal (the
    Wiener weight with each entry's own method-of-moments signal variance), float32."""
    weight = 1.0 - noise / np.maximum(np.asarray(values, np.float64) ** 2, 1e-12)
    return np.clip(weight, 0.0, 1.0).astype(np.float32)


def shrink_toward(values: np.ndarray, prior: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``values`` pulled toward ``prior`` by the positive-part James-Stein weight
    ``max(0, 1 - noise / (values - prior)^2)``: a departure from the prior within its
    noise is dropped, one well above it kept almost whole; float32."""
    gap = np.asarray(values, np.float64) - prior
    return (prior + signal_share(gap, noise) * gap).astype(np.float32)


def knockdown_prior(shifts: np.ndarray, own_columns: np.ndarray, index: np.ndarray,
                    slopes: np.ndarray) -> np.ndarray:
    """What each perturbation's knockdown implies, (R, G) for R shifts (R, G): its own
    gene's measured shift (column ``own_columns[r]``), on the genes ``index[r]`` that
    follow that gene the projection of the shift onto their ``slopes[r]`` (one
    least-squares scale per row), zero elsewhere (float64)."""
    shifts = np.asarray(shifts, np.float64)
    slopes = np.asarray(slopes, np.float64)
    measured = np.take_along_axis(shifts, index, axis=1)
    scale = (slopes * measured).sum(1) / np.maximum((slopes ** 2).sum(1), 1e-12)
    prior = np.zeros_like(shifts)
    np.put_along_axis(prior, index, scale[:, None] * slopes, axis=1)
    rows = np.arange(shifts.shape[0])
    prior[rows, own_columns] = shifts[rows, own_columns]
    return prior
