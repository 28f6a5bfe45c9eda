"""Benchmark plots: each metric by method with its interval, and per-perturbation scores
of the reference method against the best model-free method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.evaluation.metrics import ATE_METRICS
from gpo_vae.figures import subplots
from gpo_vae.io import save_figure_atomic

PLOT_METRICS = ("pearson_top20", "pearson_specific_all", "mse_all", "rank", "de_overlap",
                "de_pr_auc")


def plot_metrics_by_method(summary, scores: pd.DataFrame, path: Path) -> Path:
    """One panel per metric: each method's mean with its 95% bootstrap interval over
    perturbations (bar), and each seed's mean (dots)."""
    metrics = [m for m in PLOT_METRICS if any(m in summary.by_method[x] for x in summary.methods)]
    methods = summary.methods
    fig, axes = subplots(1, len(metrics), figsize=(3.2 * len(metrics),
                                                   0.45 * len(methods) + 1.6),
                         sharey=True, squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for row, method in enumerate(methods):
            s = summary.by_method[method].get(metric)
            if s is None:
                continue
            color = "black" if method.startswith("ceiling") else f"C{row}"
            ax.errorbar(s.mean, row, xerr=[[max(s.mean - s.ci_low, 0)],
                                           [max(s.ci_high - s.mean, 0)]]
                        if np.isfinite(s.ci_low) else None, fmt="o", color=color, capsize=3)
            seeds = scores[scores["method"] == method].groupby("seed")[metric].mean()
            ax.scatter(seeds.to_numpy(), np.full(len(seeds), row + 0.18), s=9, color=color,
                       alpha=0.6)
        best = "higher" if ATE_METRICS[metric].best == "higher" else "lower"
        ax.set_title(f"{metric}\n({best} is better)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(methods)))
    axes[0][0].set_yticklabels([summary.labels.get(m, m) for m in methods], fontsize=8)
    axes[0][0].invert_yaxis()
    fig.suptitle("test-set ATE metrics: mean and 95% interval over perturbations; dots: seeds",
                 fontsize=10)
    fig.tight_layout()
    return save_figure_atomic(fig, path)


def plot_reference_vs_baseline(scores: pd.DataFrame, reference: str, baseline: str,
                               labels: dict[str, str], path: Path,
                               metric: str = "pearson_top20") -> Path:
    """Per-perturbation ``metric`` of ``reference`` (seed-averaged) against ``baseline``:
    points above the diagonal are perturbations the reference predicts better."""
    from gpo_vae.benchmarking.summary import seed_averaged

    a = seed_averaged(scores, reference, metric)
    b = seed_averaged(scores, baseline, metric).reindex(a.index)
    fig, ax = subplots(figsize=(4.6, 4.4))
    ax.scatter(b.to_numpy(), a.to_numpy(), s=14, alpha=0.7)
    finite = np.isfinite(a.to_numpy()) & np.isfinite(b.to_numpy())
    if finite.any():
        lo = float(min(a[finite].min(), b[finite].min()))
        hi = float(max(a[finite].max(), b[finite].max()))
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--")
    ax.set_xlabel(f"{labels.get(baseline, baseline)}")
    ax.set_ylabel(f"{labels.get(reference, reference)}")
    better = "above" if ATE_METRICS[metric].best == "higher" else "below"
    ax.set_title(f"{metric} per test perturbation\n({better} the diagonal: "
                 f"{labels.get(reference, reference)} better)", fontsize=9)
    fig.tight_layout()
    return save_figure_atomic(fig, path)
