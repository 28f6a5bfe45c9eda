"""The annotations and truth of a simulated screen in the authors' schema: ``obs`` (labels,
guides, simulated artefacts), ``var`` (symbols, ids, roles) and ``uns`` (the true GRN,
per-perturbation and per-guide truth, pairs' interactions, the settings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from gpo_vae._version import __version__
from gpo_vae.constants import DEFAULT_CONTROL_LABEL as CONTROL_LABEL
from gpo_vae.simulation.genes import CATEGORY_NETWORK, GeneTable
from gpo_vae.simulation.network import GeneNetwork


def combination_truth(cells, guides, network, genes, solver, measured) -> pd.DataFrame:
    """Each simulated pair's noise-free interaction: the steady-state log-expression shift
    of the double knockdown minus the sum of the two single shifts (mean guide
    efficiencies), as its norm over the measured genes and relative to the additive
    prediction's norm (0 = purely additive)."""
    pairs = cells.loc[cells["perturbation2"] >= 0, ["perturbation", "perturbation2"]]
    pairs = pairs.drop_duplicates().sort_values(["perturbation", "perturbation2"])
    mean_eff = guides.groupby("perturbation")["efficiency"].mean()
    symbols = genes.symbols[network.perturbed]

    def shift(*perturbations):
        exogenous = np.zeros((1, genes.symbols.size))
        for p in perturbations:
            exogenous[0, network.perturbed[p]] += np.log1p(-mean_eff[p])
        return solver.solve(exogenous)[0, measured]

    rows = []
    n_cells = cells.groupby(["perturbation", "perturbation2"]).size()
    for a, b in pairs.itertuples(index=False):
        additive = shift(a) + shift(b)
        interaction = shift(a, b) - additive
        norm = float(np.linalg.norm(interaction))
        rows.append({"perturbation": f"{symbols[a]}+{symbols[b]}", "gene_a": symbols[a],
                     "gene_b": symbols[b], "n_cells": int(n_cells[(a, b)]),
                     "interaction_norm": norm,
                     "interaction_relative": norm / max(float(np.linalg.norm(additive)),
                                                        1e-12)})
    return pd.DataFrame(rows).set_index("perturbation")


def assemble(cfg, seed, genes: GeneTable, network: GeneNetwork, measured, guides,
             cells, theta) -> AnnData:
    """The annotations and truth of a screen in the authors' schema (X left empty)."""
    return AnnData(obs=_obs(genes, network, guides, cells),
                   var=_var(genes, network, measured, theta),
                   uns=_truth(cfg, seed, genes, network, measured, guides, cells))


def _labels(genes: GeneTable, network: GeneNetwork, guides, cells):
    """Each cell's perturbation label, gene id and guide: doubles are ``"A+B"`` (the
    schema's combination separator)."""
    pert_symbols, pert_ids = genes.symbols[network.perturbed], genes.ids[network.perturbed]
    pert = cells["perturbation"].to_numpy()
    second = cells["perturbation2"].to_numpy()
    gene_label = np.where(pert >= 0, pert_symbols[np.maximum(pert, 0)], CONTROL_LABEL)
    gene_id = np.where(pert >= 0, pert_ids[np.maximum(pert, 0)], CONTROL_LABEL)
    guide_label = guides["guide_id"].to_numpy()[cells["guide"].to_numpy()].astype(object)
    both = second >= 0
    if both.any():
        gene_label = gene_label.astype(object)
        gene_id = gene_id.astype(object)
        gene_label[both] = gene_label[both] + "+" + pert_symbols[second[both]]
        gene_id[both] = gene_id[both] + "+" + pert_ids[second[both]]
        guide_label[both] = guide_label[both] + "+" + \
            guides["guide_id"].to_numpy()[cells["guide2"].to_numpy()[both]]
    return gene_label, gene_id, guide_label


def _obs(genes: GeneTable, network: GeneNetwork, guides, cells) -> pd.DataFrame:
    gene_label, gene_id, guide_label = _labels(genes, network, guides, cells)
    return pd.DataFrame(
        {
            "gene": pd.Categorical(gene_label),
            "gene_id": pd.Categorical(gene_id),
            "guide_id": pd.Categorical(guide_label),
            "sim_knockdown": cells["knockdown"].to_numpy().astype(np.float32),
            "sim_escaped": cells["escaped"].to_numpy(),
            "sim_low_quality": cells["low_quality"].to_numpy(),
            "sim_doublet": cells["doublet"].to_numpy(),
            "sim_library_size": cells["library_size"].to_numpy().astype(np.float32),
        },
        index=[f"simcell_{i:07d}" for i in range(len(cells))],
    )


def _var(genes: GeneTable, network: GeneNetwork, measured, theta) -> pd.DataFrame:
    symbols, ids = genes.symbols, genes.ids
    role = np.where(np.isin(np.arange(symbols.size), network.regulators), "regulator",
                    genes.categories)
    role = np.where(role == CATEGORY_NETWORK, "target", role)
    return pd.DataFrame(
        {
            "gene_name": symbols[measured],
            "gene_id": ids[measured],
            "sim_category": genes.categories[measured],
            "sim_role": role[measured],
            "sim_perturbed": np.isin(np.flatnonzero(measured), network.perturbed),
            "sim_dispersion": theta.astype(np.float32),
        },
        index=pd.Index(ids[measured]),
    )


def _truth(cfg, seed, genes: GeneTable, network: GeneNetwork, measured, guides,
           cells) -> dict:
    symbols, ids = genes.symbols, genes.ids
    pert_symbols = symbols[network.perturbed]
    pert = cells["perturbation"].to_numpy()
    second = cells["perturbation2"].to_numpy()
    adjacency = network.adjacency()[network.perturbed][:, network.perturbed].toarray()
    out_degree = np.bincount(network.source, minlength=symbols.size)[network.perturbed]
    perturbations = pd.DataFrame(
        {
            "gene": pert_symbols,
            "gene_id": ids[network.perturbed],
            "kind": network.perturbed_kind,
            "measured": measured[network.perturbed],
            "n_direct_targets": out_degree,
            "n_cells": np.bincount(np.concatenate([pert[pert >= 0], second[second >= 0]]),
                                   minlength=pert_symbols.size),
        },
        index=pd.Index(pert_symbols, name="perturbation"),
    )
    return {
        "true_grn": network.edge_table(symbols, measured),
        "true_grn_perturbed": pd.DataFrame(adjacency, index=pert_symbols, columns=pert_symbols),
        "perturbations": perturbations,
        "guides": guides.drop(columns="perturbation"),
        "simulation": {**cfg.to_dict(), "seed": int(seed), "gpo_vae_version": __version__,
                       "control_label": CONTROL_LABEL},
    }
