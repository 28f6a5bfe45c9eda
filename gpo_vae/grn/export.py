"""The learned GRN as files other tools read (what ``gpo-vae export-grn`` writes).

Writes into one folder (each file atomically):
- ``probabilities.csv``: the T x T q(M) edge probabilities, row = regulator, column =
  target, genes in the model's treatment order, with a ``kind`` column (``perturbed`` or
  ``extra``; the column genes are in the same order);
- ``edges.csv``: source, target, probability, mean weight E, sign, kinds, sorted by
  probability; edges at or above ``threshold``, at most ``top_k`` of them;
- ``grn.graphml``: the same edges and every treatment gene as a node (Cytoscape,
  networkx, Gephi);
- ``treatment_genes.csv`` and ``heatmap.png``;
- with ``stability=N`` (``--stability N``): ``stability.csv``, how often each pair reaches
  the threshold when the model is trained again on N bootstrap resamples of its training
  cells, and a ``stability`` column in the edge list (which edges to trust).
The diagonal (a perturbation's effect on its own gene's latent dimension) is kept in the
matrix but is not a regulatory edge, so edge lists leave it out.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.config import check_seed
from gpo_vae.errors import ConfigError
from gpo_vae.figures import subplots
from gpo_vae.io import atomic_path, save_figure_atomic, write_json_atomic
from gpo_vae.models.grn import LearnedGrn, check_threshold, check_top_k, learned_grn
from gpo_vae.outputs import check_output_folder, mark_output_folder


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
        extra = {"stability": float(row.stability)} if hasattr(row, "stability") else {}
        graph.add_edge(row.source, row.target, probability=float(row.probability),
                       weight=float(row.mean_weight), sign=int(row.sign), **extra)
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp)


def plot_grn_heatmap(grn: LearnedGrn, path: Path, threshold: float) -> Path:
    """Save :func:`grn_heatmap_figure` to ``path`` (atomically)."""
    save_figure_atomic(grn_heatmap_figure(grn, threshold), path, dpi=130)
    return path


def grn_heatmap_figure(grn: LearnedGrn, threshold: float = 0.5):
    """q(M) as a heatmap (perturbed genes first) beside the histogram of probabilities;
    returns the matplotlib Figure (shown inline in a notebook)."""
    threshold = check_threshold(threshold)

    kinds = grn.genes["kind"].to_numpy()
    order = np.argsort(kinds != "perturbed", kind="stable")
    prob = grn.probabilities[np.ix_(order, order)]
    n_perturbed = int((kinds == "perturbed").sum())
    fig, (ax, hist) = subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 2]})
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
    return fig


def export_grn(run: str | os.PathLike, out: str | os.PathLike, *, threshold: float = 0.5,
               top_k: int | None = None, n_samples: int = 32, stability: int = 0,
               stability_epochs: int | None = None, seed: int = 0, force: bool = False,
               data_path: str | os.PathLike | None = None) -> dict:
    """Export the GRN of a run folder or checkpoint into ``out`` (the files in this
    module's docstring).

    Parameters
    ----------
    run
        A run folder (its best checkpoint) or a ``.ckpt`` file.
    out
        The output folder; nothing is written into it before all the work is done. A
        folder holding anything but this run's own output is refused unless ``force``
        (:mod:`gpo_vae.outputs`).
    threshold, top_k
        Edges with q(M) at or above ``threshold``, at most ``top_k`` of them.
    n_samples
        Draws of M behind the mean edge weights.
    stability
        0, or N >= 2: also train the run's configuration on N bootstrap resamples of its
        training cells (:func:`gpo_vae.grn.stability.grn_stability`) and write each pair's
        recurrence (the fraction of runs with q(M) >= ``threshold``) to
        ``stability.csv`` and as a ``stability`` column / attribute of the edges.
    stability_epochs
        Epochs of each stability run (default: the run's).
    seed
        Seed of the stability runs.
    force
        Write into ``out`` even when it holds other files.
    data_path
        The run's input file when it moved from the stored ``data.path`` (stability only).

    Returns
    -------
    dict
        The summary also written to ``export_summary.json``.
    """
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint, run_folder_of

    _check_settings(threshold, top_k, stability, stability_epochs, seed)
    checkpoint = resolve_checkpoint(run)
    run_folder = run_folder_of(checkpoint)
    out = check_output_folder(out, "run", run_folder, what="the GRN folder", force=force)
    module = load_trained(checkpoint)
    grn = learned_grn(module, n_samples=n_samples)
    recurrence = None
    if stability:
        recurrence = _bootstrap(module, run_folder, stability, threshold=threshold,
                                max_epochs=stability_epochs, seed=seed, data_path=data_path)
    mark_output_folder(out, "run", run_folder)
    edges = grn.edges(threshold, top_k)
    files = _write_files(out, grn, edges, recurrence, threshold)
    summary = {"checkpoint": str(checkpoint), "n_treatment_genes": len(grn.genes),
               "n_perturbed": int((grn.genes["kind"] == "perturbed").sum()),
               "threshold": threshold, "top_k": top_k, "n_edges": len(edges),
               "files": files}
    if recurrence is not None:
        summary["stability"] = {
            "n_runs": recurrence.n_runs, "seed": recurrence.seed,
            "n_edges_in_every_run": int((edges["stability"] == 1).sum()),
            "n_edges_in_at_least_half": int((edges["stability"] >= 0.5).sum())}
    write_json_atomic(out / "export_summary.json", summary)
    return summary


def _check_settings(threshold, top_k, stability: int, stability_epochs, seed) -> None:
    """Every setting before any work; errors name the parameters (the command line says
    its flags instead)."""
    check_threshold(threshold)
    check_top_k(top_k, every="leave it out")
    if stability and stability < 2:
        raise ConfigError(f"stability={stability}: give at least 2 bootstrap runs (or 0)")
    if stability_epochs is not None and stability_epochs < 1:
        raise ConfigError(f"stability_epochs={stability_epochs} must be at least 1")
    if stability:
        check_seed(seed, "seed")


def _bootstrap(module, run_folder: Path, n_runs: int, *, threshold: float, max_epochs,
               seed: int, data_path):
    """Edge recurrence over ``n_runs`` bootstrap trainings of the run (its prepared data
    read back from the stored path, or ``data_path`` when it moved)."""
    from gpo_vae.evaluation.report import prepared_data_of
    from gpo_vae.grn.stability import grn_stability
    from gpo_vae.training.run_folder import check_split

    adata = prepared_data_of(module, python_instead=(
        "gv.GpoVae.load(RUN, prepared).grn_stability(N)"), data_path=data_path)
    check_split(run_folder, adata, "export-grn --stability")
    return grn_stability(module.config, adata, n_runs, threshold=threshold,
                         max_epochs=max_epochs, seed=seed)


def _write_files(out: Path, grn: LearnedGrn, edges: pd.DataFrame, recurrence,
                 threshold: float) -> list[str]:
    """Write the matrix, edge list, GraphML, gene table, heatmap (and the stability
    table); returns the file names."""
    names = grn.genes["name"].tolist()
    matrix = pd.DataFrame(grn.probabilities.round(6), index=pd.Index(names, name="regulator"),
                          columns=names)
    matrix.insert(0, "kind", grn.genes["kind"].to_numpy())
    _write_csv(matrix, out / "probabilities.csv")
    files = ["probabilities.csv", "edges.csv", "grn.graphml", "treatment_genes.csv",
             "heatmap.png"]
    if recurrence is not None:
        frequency = recurrence.frequency
        edges["stability"] = [frequency.at[a, b] for a, b in zip(edges["source"],
                                                                  edges["target"],
                                                                  strict=True)]
        table = frequency.round(6)
        table.index.name = "regulator"
        _write_csv(table, out / "stability.csv")
        files.append("stability.csv")
    elif (out / "stability.csv").is_file():   # from an earlier export: not these edges
        (out / "stability.csv").unlink()
    _write_csv(edges, out / "edges.csv", index=False)
    _write_graphml(grn, edges, out / "grn.graphml")
    _write_csv(grn.genes, out / "treatment_genes.csv", index=False)
    plot_grn_heatmap(grn, out / "heatmap.png", threshold)
    return files
