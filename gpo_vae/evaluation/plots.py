"""Evaluation plots: ATE scatter, model vs baselines vs ceiling, GRN curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.evaluation.metrics import top_genes
from gpo_vae.figures import subplots
from gpo_vae.io import save_figure_atomic

METHOD_LABELS = {
    "model": "GPO-VAE",
    "baseline_pert_mean": "per-perturbation train mean",
    "baseline_additive": "additive (sum of singles)",
    "baseline_additive_fit": "additive, fitted over every condition",
    "baseline_global_mean": "global train mean",
    "baseline_linear": "linear (ridge on PCA)",
    "ceiling_split_half": "split-half ceiling",
    "ceiling_noise_free": "noise-free ceiling (Pearson)",
}
METHOD_COLORS = {"model": "tab:red", "baseline_pert_mean": "tab:blue",
                 "baseline_additive": "tab:orange", "baseline_additive_fit": "tab:brown",
                 "baseline_global_mean": "tab:gray", "baseline_linear": "tab:green",
                 "ceiling_split_half": "black", "ceiling_noise_free": "tab:purple"}


def plot_ate_scatter(model: pd.DataFrame, observed: pd.DataFrame, path: Path,
                     perturbations: list[str], n_top: int = 20) -> Path:
    """Model ATE vs data ATE for a few perturbations and for all of them together;
    the top genes by |data ATE| are highlighted."""
    panels = list(perturbations)[:5]
    fig, axes = subplots(1, len(panels) + 1, figsize=(3.6 * (len(panels) + 1), 3.8),
                         squeeze=False)
    axes = axes[0]
    for ax, name in zip(axes[:-1], panels, strict=True):
        o, m = observed.loc[name].to_numpy(), model.loc[name].to_numpy()
        top = top_genes(o, n_top)
        ax.scatter(o, m, s=4, color="0.6", alpha=0.5, linewidths=0)
        ax.scatter(o[top], m[top], s=12, color="tab:red", label=f"top {n_top} genes")
        ax.set(title=name, xlabel="data ATE (test cells)")
    ax = axes[-1]
    o, m = observed.to_numpy().ravel(), model.reindex(observed.index).to_numpy().ravel()
    ax.hexbin(o, m, gridsize=60, bins="log", cmap="Greys", mincnt=1)
    tops = np.concatenate([i * observed.shape[1] + top_genes(observed.iloc[i].to_numpy(), n_top)
                           for i in range(observed.shape[0])])
    ax.scatter(o[tops], m[tops], s=3, color="tab:red", alpha=0.6)
    ax.set(title=f"all {observed.shape[0]} perturbations", xlabel="data ATE (test cells)")
    for ax in axes:
        lim = max(np.abs(ax.get_xlim()).max(), np.abs(ax.get_ylim()).max())
        ax.plot([-lim, lim], [-lim, lim], color="0.3", lw=0.6, ls="--")
        ax.axhline(0, color="0.85", lw=0.5)
        ax.axvline(0, color="0.85", lw=0.5)
    axes[0].set_ylabel("model ATE")
    axes[0].legend(loc="upper left", fontsize=7)
    fig.suptitle("GPO-VAE ATEs vs held-out data ATEs (log2 normalised expression)")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    return path


COMPARED_METRICS = ("pearson_all", "pearson_top20", "r2_top20", "jaccard_top20",
                    "jaccard_top50")


def plot_method_comparison(ate: dict, path: Path, metrics=COMPARED_METRICS) -> Path:
    """Save :func:`method_comparison_figure` to ``path``."""
    save_figure_atomic(method_comparison_figure(ate, metrics), path, dpi=120)
    return path


def method_comparison_figure(ate: dict, metrics=COMPARED_METRICS):
    """Grouped bars: every method (model, baselines, ceiling) on every ATE metric; ``ate``
    is the ``ate`` block of ``metrics.json``. Returns the Figure."""
    methods = [m for m in METHOD_LABELS if m in ate]
    fig, ax = subplots(figsize=(2.0 * len(metrics) + 2, 4.2))
    width = 0.8 / len(methods)
    x = np.arange(len(metrics))
    for i, method in enumerate(methods):
        values = [ate[method].get(k) for k in metrics]
        heights = [np.nan if v is None else v for v in values]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, heights, width,
               label=METHOD_LABELS[method], color=METHOD_COLORS[method],
               hatch="//" if method.startswith("ceiling") else None,
               fill=not method.startswith("ceiling"), edgecolor=METHOD_COLORS[method])
    ax.set_xticks(x, metrics)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set(ylabel="mean over test perturbations",
           title="ATE prediction on held-out cells: model, baselines and ceiling")
    ax.legend(fontsize=8, ncols=2)
    fig.tight_layout()
    return fig


def plot_precision_recall(curves: dict[str, tuple[np.ndarray, np.ndarray, float]],
                          random_precision: float, path: Path) -> Path:
    """Save :func:`precision_recall_figure` to ``path``."""
    save_figure_atomic(precision_recall_figure(curves, random_precision), path, dpi=120)
    return path


def precision_recall_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float]],
                            random_precision: float):
    """GRN precision-recall curves against the true network; ``curves`` maps a label to
    (precision, recall, AUPRC). Returns the Figure."""
    fig, ax = subplots(figsize=(5.2, 4.4))
    for label, (precision, recall, auprc) in curves.items():
        ax.plot(recall, precision, label=f"{label} (AUPRC {auprc:.3f})", lw=1.4)
    ax.axhline(random_precision, color="0.5", ls="--",
               label=f"random (AUPRC {random_precision:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title="GRN among perturbed genes vs the true network")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_wasserstein_vs_k(statistical: dict, path: Path) -> Path:
    """Mean Wasserstein distance and Mann-Whitney precision of the top-K edges vs K
    (panels say so when no edge could be tested, e.g. unseen regulators)."""
    rows = {v["k_effective"]: v for v in statistical["top_k"].values() if v["k_effective"] > 0}
    thr = statistical["threshold"]
    fig, axes = subplots(1, 2, figsize=(9, 3.8))
    for ax, key, label in ((axes[0], "mean_wasserstein", "mean Wasserstein distance"),
                           (axes[1], "precision", "precision (Mann-Whitney p < 0.05)")):
        points = sorted((k, v[key]) for k, v in rows.items() if v.get(key) is not None)
        if points:
            ax.plot(*zip(*points, strict=True), "o-", color="tab:red",
                    label="top-K edges by q(M)")
        if thr.get(key) is not None and thr.get("n_edges"):
            ax.plot([thr["n_edges"]], [thr[key]], "s", color="black",
                    label=f"q(M) > {thr.get('threshold', 0.5)}")
            points.append((thr["n_edges"], thr[key]))
        if key == "precision" and thr.get("base_rate") is not None:
            ax.axhline(thr["base_rate"], color="0.5", ls="--", label="random pairs")
        if points:
            ax.set_xscale("log")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no testable edges", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set(xlabel="number of edges K", ylabel=label)
    fig.suptitle("Statistical GRN evaluation on held-out cells (CausalBench)")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    return path
