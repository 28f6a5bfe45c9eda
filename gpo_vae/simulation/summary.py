"""Summary table and overview plot of a simulated screen (the demo's first output)."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from gpo_vae.constants import UNS_TRUE_GRN, UNS_TRUE_GRN_PERTURBED
from gpo_vae.data.pseudobulk import group_means, log_normalize
from gpo_vae.figures import subplots
from gpo_vae.io import save_figure_atomic, write_json_atomic, write_text_atomic
from gpo_vae.simulation.simulator import CONTROL_LABEL, SIMULATED_SCHEMA


def _true_graph(adata: ad.AnnData) -> tuple[sp.csr_matrix, dict[str, int]]:
    edges = adata.uns[UNS_TRUE_GRN]
    symbols = pd.unique(
        np.concatenate([edges["source"], edges["target"], adata.var["gene_name"].astype(str)])
    )
    index = {s: i for i, s in enumerate(symbols)}
    graph = sp.csr_matrix(
        (
            np.ones(len(edges)),
            (edges["source"].map(index).to_numpy(), edges["target"].map(index).to_numpy()),
        ),
        shape=(len(symbols), len(symbols)),
    )
    return graph, index


def response_by_network_distance(adata: ad.AnnData) -> pd.DataFrame:
    """Per perturbation: knockdown of the target and mean |log fold change| (log1p of
    counts per 10k, perturbed minus control means) of its direct targets, its indirect
    descendants and the genes the network does not connect it to."""
    lognorm = log_normalize(adata, gene_symbol_key=SIMULATED_SCHEMA.gene_symbol_key)
    means = group_means(lognorm, SIMULATED_SCHEMA.perturbation_key)
    control = means.loc[CONTROL_LABEL]
    graph, index = _true_graph(adata)
    reverse = {i: s for s, i in index.items()}
    measured = set(means.columns)
    edges = adata.uns[UNS_TRUE_GRN]
    rows = []
    for gene in adata.uns["perturbations"]["gene"]:
        lfc = (means.loc[gene] - control).abs()
        direct = set(edges.loc[edges["source"] == gene, "target"]) & measured
        reached = {reverse[i] for i in breadth_first_order(graph, index[gene],
                                                           return_predecessors=False)}
        indirect = (reached - direct - {gene}) & measured
        unreached = measured - reached
        rows.append(
            {
                "perturbation": gene,
                "n_cells": int((adata.obs[SIMULATED_SCHEMA.perturbation_key] == gene).sum()),
                "target_measured": gene in measured,
                "target_lfc": (means.loc[gene, gene] - control[gene]) if gene in measured
                else np.nan,
                "n_direct": len(direct),
                "abs_lfc_direct": lfc[list(direct)].mean() if direct else np.nan,
                "abs_lfc_indirect": lfc[list(indirect)].mean() if indirect else np.nan,
                "abs_lfc_unreached": lfc[list(unreached)].mean() if unreached else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("perturbation")


def summarize_simulation(adata: ad.AnnData) -> dict:
    """Headline numbers of a simulated screen: sizes, QC artefacts, true network."""
    obs, uns = adata.obs, adata.uns
    perts = uns["perturbations"]
    grn = uns["true_grn"]
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    mt = adata.var["gene_name"].astype(str).str.startswith("MT-").to_numpy()
    mt_fraction = np.asarray(adata.X[:, mt].sum(axis=1)).ravel() / np.maximum(totals, 1)
    low = obs["sim_low_quality"].to_numpy()
    return {
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "n_perturbations": int(len(perts)),
        "n_control_cells": int((obs["gene"] == CONTROL_LABEL).sum()),
        "n_qc_failing_cells": int(low.sum()),
        "n_doublets": int(obs["sim_doublet"].sum()),
        "n_true_edges": int(len(grn)),
        "n_true_edges_among_perturbed": int((uns["true_grn_perturbed"].to_numpy() != 0).sum()),
        "n_feedback_edges": int(grn["feedback"].sum()),
        "perturbed_genes_unmeasured": perts.loc[~perts["measured"], "gene"].tolist(),
        "perturbed_genes_without_downstream_effect": perts.loc[
            perts["n_direct_targets"] == 0, "gene"
        ].tolist(),
        "median_umis_per_cell": float(np.median(totals)),
        "median_genes_per_cell": float(np.median(np.diff(sp.csr_matrix(adata.X).indptr))),
        "median_mito_fraction_good_cells": float(np.median(mt_fraction[~low])),
        "median_mito_fraction_qc_failing_cells": float(np.median(mt_fraction[low]))
        if low.any() else float("nan"),
        "seed": int(uns["simulation"]["seed"]),
    }


def plot_simulation_overview(adata: ad.AnnData, response: pd.DataFrame, path: str | os.PathLike):
    """Four panels: QC, knockdown per target, true GRN among targets, response by distance."""
    fig, axes = subplots(2, 2, figsize=(12, 10))
    obs = adata.obs
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    mt = adata.var["gene_name"].astype(str).str.startswith("MT-").to_numpy()
    mt_pct = 100 * np.asarray(adata.X[:, mt].sum(axis=1)).ravel() / np.maximum(totals, 1)
    ax = axes[0, 0]
    kinds = [("good cells", ~obs["sim_low_quality"] & ~obs["sim_doublet"], "tab:gray"),
             ("low quality (simulated)", obs["sim_low_quality"], "tab:red"),
             ("doublets (simulated)", obs["sim_doublet"], "tab:blue")]
    for label, mask, color in kinds:
        mask = mask.to_numpy()
        ax.scatter(totals[mask], mt_pct[mask], s=3, alpha=0.4, color=color, label=label,
                   rasterized=True)
    ax.set(xscale="log", xlabel="UMIs per cell", ylabel="% mitochondrial UMIs",
           title="Cell quality")
    ax.legend(markerscale=4, frameon=False)

    ax = axes[0, 1]
    measured = response.dropna(subset=["target_lfc"]).sort_values("target_lfc")
    ax.bar(range(len(measured)), measured["target_lfc"], color="tab:purple")
    ax.set(xlabel="perturbation (sorted)", ylabel="target log fold change vs control",
           title=f"CRISPRi knockdown of the target ({len(measured)} measured targets)")
    ax.set_xticks([])

    ax = axes[1, 0]
    grn = adata.uns[UNS_TRUE_GRN_PERTURBED]
    limit = float(np.abs(grn.to_numpy()).max()) or 1.0
    image = ax.imshow(grn.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest")
    ax.set(xlabel="target (perturbed gene)", ylabel="regulator (perturbed gene)",
           title=f"True GRN among perturbed genes ({int((grn.to_numpy() != 0).sum())} edges)")
    if grn.shape[0] <= 30:
        ax.set_xticks(range(grn.shape[1]), grn.columns, rotation=90, fontsize=6)
        ax.set_yticks(range(grn.shape[0]), grn.index, fontsize=6)
    fig.colorbar(image, ax=ax, label="signed edge weight", shrink=0.8)

    ax = axes[1, 1]
    groups = {"direct targets": "abs_lfc_direct", "indirect": "abs_lfc_indirect",
              "not reached": "abs_lfc_unreached"}
    data = [response[col].dropna().to_numpy() for col in groups.values()]
    ax.boxplot(data, tick_labels=list(groups))
    ax.set(ylabel="mean |log fold change| per perturbation",
           title="Responses follow the network")
    fig.suptitle(f"Simulated Perturb-seq screen: {adata.n_obs:,} cells x {adata.n_vars:,} "
                 f"genes, {len(adata.uns['perturbations'])} perturbations")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=110)
    return Path(path)


def write_simulation_report(adata: ad.AnnData, out_dir: str | os.PathLike) -> dict:
    """Write ``simulation_summary.json``, ``simulation_summary.md``, the per-perturbation
    response table and ``plots/simulation_overview.png`` under ``out_dir``."""
    out = Path(out_dir)
    summary = summarize_simulation(adata)
    response = response_by_network_distance(adata)
    summary["median_target_lfc"] = float(response["target_lfc"].median())
    summary["median_abs_lfc_direct_targets"] = float(response["abs_lfc_direct"].median())
    summary["median_abs_lfc_unreached_genes"] = float(response["abs_lfc_unreached"].median())
    write_json_atomic(out / "simulation_summary.json", summary)
    with_csv = out / "simulation_response_by_perturbation.csv"
    write_text_atomic(with_csv, response.to_csv(float_format="%.4f"))
    lines = ["# Simulated data set", "", "| quantity | value |", "|---|---|"]
    for key, value in summary.items():
        if isinstance(value, list):
            value = ", ".join(value) or "none"
        elif isinstance(value, float):
            value = f"{value:.4g}"
        lines.append(f"| {key.replace('_', ' ')} | {value} |")
    write_text_atomic(out / "simulation_summary.md", "\n".join(lines) + "\n")
    plot_simulation_overview(adata, response, out / "plots" / "simulation_overview.png")
    return summary
