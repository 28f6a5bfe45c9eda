"""``gpo-vae export-grn``: the learned GRN as files other tools read.

Writes into one folder (each file atomically):
- ``probabilities.csv``: the T x T q(M) edge probabilities, row = regulator, column =
  target, genes in the model's treatment order, with a ``kind`` column (``perturbed`` or
  ``extra``; the column genes are in the same order);
- ``edges.csv``: source, target, probability, mean weight E, sign, kinds, sorted by
  probability; edges at or above ``threshold``, at most ``top_k`` of them;
- ``grn.graphml``: the same edges and every treatment gene as a node (Cytoscape,
  networkx, Gephi);
- ``treatment_genes.csv`` and ``heatmap.png``.
The diagonal (a perturbation's effect on its own gene's latent dimension) is kept in the
matrix but is not a regulatory edge, so edge lists leave it out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gpo_vae.errors import ConfigError
from gpo_vae.io import atomic_path, save_figure_atomic, write_json_atomic


@dataclass
class LearnedGrn:
    """q(M) probabilities and mean edge weights over the treatment genes."""

    genes: pd.DataFrame           # name, kind, measured, train_cells (model order)
    probabilities: np.ndarray     # (T, T)
    mean_weights: np.ndarray      # (T, T), E[E | M = 1] under the guide

    def edges(self, threshold: float = 0.5, top_k: int | None = None) -> pd.DataFrame:
        """Off-diagonal edges with probability >= threshold (at most ``top_k``), best first."""
        prob = self.probabilities.copy()
        np.fill_diagonal(prob, -1.0)
        rows, cols = np.nonzero(prob >= threshold)
        order = np.argsort(-prob[rows, cols], kind="stable")
        if top_k is not None:
            order = order[:top_k]
        rows, cols = rows[order], cols[order]
        names, kinds = self.genes["name"].to_numpy(), self.genes["kind"].to_numpy()
        weights = self.mean_weights[rows, cols]
        return pd.DataFrame({
            "source": names[rows], "target": names[cols],
            "probability": prob[rows, cols].round(6), "mean_weight": weights.round(6),
            "sign": np.sign(weights).astype(int),
            "source_kind": kinds[rows], "target_kind": kinds[cols],
        })


@torch.no_grad()
def learned_grn(module, n_samples: int = 32, chunk: int = 8, seed: int = 0) -> LearnedGrn:
    """The GRN of a trained :class:`GpoVaeLightningModule`. Mean weights average the
    guide's q(E | M) means over ``n_samples`` draws of M, given the edge is present."""
    guide = module.guide
    info = module.data_info
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        probs = guide.mask_probabilities()
        total = torch.zeros_like(probs)
        present = torch.zeros_like(probs)
        unconditional = torch.zeros_like(probs)
        for start in range(0, n_samples, chunk):
            n = min(chunk, n_samples - start)
            sample = guide.sample_globals(n)
            mask = sample.mask.detach()
            total += (sample.edge_mean * mask).sum(0)
            present += mask.sum(0)
            unconditional += sample.edge_mean.sum(0)
    finally:
        torch.random.set_rng_state(generator_state)
    mean = torch.where(present > 0, total / present.clamp_min(1), unconditional / n_samples)
    genes = pd.DataFrame({"name": info.treatment_names, "kind": info.treatment_kinds,
                          "measured": info.treatment_measured,
                          "train_cells": info.train_cells_per_treatment})
    return LearnedGrn(genes, probs.cpu().numpy(), mean.cpu().numpy())


def _write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)


def _write_graphml(grn: LearnedGrn, edges: pd.DataFrame, path: Path) -> None:
    import networkx as nx

    graph = nx.DiGraph(name="GPO-VAE q(M)")
    for row in grn.genes.itertuples(index=False):
        graph.add_node(row.name, kind=row.kind, measured=bool(row.measured),
                       train_cells=int(row.train_cells))
    for row in edges.itertuples(index=False):
        graph.add_edge(row.source, row.target, probability=float(row.probability),
                       weight=float(row.mean_weight), sign=int(row.sign))
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp)


def plot_grn_heatmap(grn: LearnedGrn, path: Path, threshold: float) -> Path:
    """q(M) as a heatmap (perturbed genes first) beside the histogram of probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = grn.genes["kind"].to_numpy()
    order = np.argsort(kinds != "perturbed", kind="stable")
    prob = grn.probabilities[np.ix_(order, order)]
    n_perturbed = int((kinds == "perturbed").sum())
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 2]})
    image = ax.imshow(prob, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    if 0 < n_perturbed < len(order):
        for line in (ax.axhline, ax.axvline):
            line(n_perturbed - 0.5, color="white", lw=0.8)
    names = grn.genes["name"].to_numpy()[order]
    if len(order) <= 60:
        ax.set_xticks(range(len(order)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(order)), names, fontsize=6)
    ax.set(xlabel=f"target (first {n_perturbed} perturbed, then extra genes)",
           ylabel="regulator", title="q(M) edge probabilities")
    fig.colorbar(image, ax=ax, shrink=0.8)
    off_diagonal = grn.probabilities[~np.eye(len(order), dtype=bool)]
    hist.hist(off_diagonal, bins=50, color="0.3")
    hist.axvline(threshold, color="tab:red", ls="--", label=f"threshold {threshold}")
    hist.set(yscale="log", xlabel="edge probability", ylabel="pairs",
             title=f"{int((off_diagonal >= threshold).sum()):,} edges >= {threshold}")
    hist.legend()
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=130)
    plt.close(fig)
    return path


def export_grn(run: str | os.PathLike, out: str | os.PathLike, *, threshold: float = 0.5,
               top_k: int | None = None, n_samples: int = 32) -> dict:
    """Export the GRN of a run folder or checkpoint into ``out``; returns a summary."""
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint

    if not 0 <= threshold <= 1:
        raise ConfigError(f"--threshold {threshold} must be between 0 and 1")
    if top_k is not None and top_k <= 0:
        raise ConfigError(f"--top-k {top_k} must be a positive number of edges")
    checkpoint = resolve_checkpoint(run)
    grn = learned_grn(load_trained(checkpoint), n_samples=n_samples)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = grn.genes["name"].tolist()
    matrix = pd.DataFrame(grn.probabilities.round(6), index=pd.Index(names, name="regulator"),
                          columns=names)
    matrix.insert(0, "kind", grn.genes["kind"].to_numpy())
    _write_csv(matrix, out / "probabilities.csv")
    edges = grn.edges(threshold, top_k)
    _write_csv(edges, out / "edges.csv", index=False)
    _write_graphml(grn, edges, out / "grn.graphml")
    _write_csv(grn.genes, out / "treatment_genes.csv", index=False)
    plot_grn_heatmap(grn, out / "heatmap.png", threshold)
    summary = {"checkpoint": str(checkpoint), "n_treatment_genes": len(names),
               "n_perturbed": int((grn.genes["kind"] == "perturbed").sum()),
               "threshold": threshold, "top_k": top_k, "n_edges": len(edges),
               "files": ["probabilities.csv", "edges.csv", "grn.graphml",
                         "treatment_genes.csv", "heatmap.png"]}
    write_json_atomic(out / "export_summary.json", summary)
    return summary
