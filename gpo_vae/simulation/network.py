"""A random, sparse, signed gene regulatory network with a few feedback loops.

Regulators are placed in a random topological order and only regulate genes after them,
so the network is acyclic, except for a handful of negative feedback edges that close
two-gene loops. Regulator hubness is heavy-tailed, so a few perturbations reach many
genes and most reach a few.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from gpo_vae.simulation.config import SimulationConfig

# Perturbation kinds, stored with the data so tests and users can check them.
KIND_REGULATOR = "regulator"
KIND_UNMEASURED = "unmeasured_regulator"
KIND_NO_EFFECT = "no_downstream_effect"


@dataclass(frozen=True)
class GeneNetwork:
    """Edges of the true network, in the index space of all simulated genes."""

    n_genes: int
    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray  # signed
    feedback: np.ndarray  # bool: the edge closes a loop
    regulators: np.ndarray  # indices, in topological order
    perturbed: np.ndarray  # indices of perturbed genes
    perturbed_kind: np.ndarray  # KIND_* per perturbed gene

    def adjacency(self) -> sp.csr_matrix:
        """Signed weight matrix W with W[source, target] = weight."""
        return sp.csr_matrix(
            (self.weight, (self.source, self.target)), shape=(self.n_genes, self.n_genes)
        )

    def descendants(self, gene: int) -> np.ndarray:
        """Indices of every gene reachable from ``gene`` (excluding itself)."""
        reached = breadth_first_order(self.adjacency(), gene, directed=True,
                                      return_predecessors=False)
        return reached[reached != gene]

    def edge_table(self, symbols: np.ndarray, measured: np.ndarray) -> pd.DataFrame:
        """Edge list with gene symbols: source, target, sign, weight (magnitude), flags."""
        return pd.DataFrame(
            {
                "source": symbols[self.source],
                "target": symbols[self.target],
                "sign": np.sign(self.weight).astype(np.int8),
                "weight": np.abs(self.weight),
                "feedback": self.feedback,
                "target_measured": measured[self.target],
            }
        )


def _draw_weights(rng: np.random.Generator, cfg: SimulationConfig, n: int) -> np.ndarray:
    signs = np.where(rng.random(n) < cfg.activating_fraction, 1.0, -1.0)
    return signs * rng.uniform(cfg.weight_min, cfg.weight_max, size=n)


def sample_network(
    rng: np.random.Generator, cfg: SimulationConfig, network_genes: np.ndarray, n_genes: int
) -> GeneNetwork:
    """Draw regulators, perturbed genes and edges among ``network_genes``.

    Perturbed genes: mostly regulators (each with at least two targets), a few
    regulators that will be left unmeasured, and a few target-only genes with no
    downstream effect.
    """
    n_pert = cfg.n_perturbations
    n_no_effect = max(1, round(cfg.no_effect_perturbed_fraction * n_pert))
    n_pert_reg = n_pert - n_no_effect
    n_unmeasured = min(n_pert_reg, max(1, round(cfg.unmeasured_perturbed_fraction * n_pert)))
    n_reg = n_pert_reg + cfg.n_extra_regulators

    order = rng.permutation(network_genes)
    regulators = order[:n_reg]
    targets = order[n_reg:]
    pert_reg = rng.choice(regulators, size=n_pert_reg, replace=False)
    no_effect = targets[:n_no_effect]
    unmeasured = set(rng.choice(pert_reg, size=n_unmeasured, replace=False).tolist())

    sources, dests = _draw_edges(rng, cfg, regulators, targets, pert_reg)
    src = np.asarray(sources, dtype=np.int64)
    dst = np.asarray(dests, dtype=np.int64)
    _, first = np.unique(src * n_genes + dst, return_index=True)
    first.sort()
    src, dst = src[first], dst[first]
    weight = _draw_weights(rng, cfg, src.size)
    src, dst, weight, feedback = _add_feedback(rng, cfg, src, dst, weight, regulators)

    perturbed = np.concatenate([pert_reg, no_effect])
    kinds = np.array(
        [KIND_UNMEASURED if g in unmeasured else KIND_REGULATOR for g in pert_reg]
        + [KIND_NO_EFFECT] * n_no_effect
    )
    return GeneNetwork(
        n_genes=n_genes,
        source=src,
        target=dst,
        weight=weight,
        feedback=feedback,
        regulators=regulators,
        perturbed=perturbed,
        perturbed_kind=kinds,
    )


def _draw_edges(rng, cfg: SimulationConfig, regulators: np.ndarray, targets: np.ndarray,
                pert_reg: np.ndarray) -> tuple[list, list]:
    """Sources and targets of the edges (duplicates possible): regulator -> regulator in
    topological order, regulator -> target by hubness, two targets per perturbed
    regulator at least."""
    n_reg = regulators.size
    hubness = rng.lognormal(0.0, 1.0, size=n_reg)
    sources, dests = [], []
    # Regulator -> regulator edges only point forward in the topological order (acyclic).
    # A loop over regulators (hundreds at most), never over cells.
    for i in range(1, n_reg):
        k = min(rng.poisson(cfg.regulator_in_degree), i)
        if k:
            p = hubness[:i] / hubness[:i].sum()
            sources.extend(regulators[rng.choice(i, size=k, replace=False, p=p)])
            dests.extend([regulators[i]] * k)
    # Regulator -> target edges, drawn at once; duplicates removed below.
    per_target = rng.poisson(cfg.target_in_degree, size=targets.size)
    sources.extend(regulators[rng.choice(n_reg, size=per_target.sum(), p=hubness / hubness.sum())])
    dests.extend(np.repeat(targets, per_target))
    # Every perturbed regulator gets at least two targets, so its knockdown has an effect.
    out_degree = pd.Series(sources).value_counts()
    for gene in pert_reg:
        missing = 2 - int(out_degree.get(gene, 0))
        if missing > 0:
            sources.extend([gene] * missing)
            dests.extend(rng.choice(targets, size=missing, replace=False))
    return sources, dests


def _add_feedback(rng, cfg: SimulationConfig, src, dst, weight, regulators):
    """``cfg.n_feedback_edges`` weak feedback edges reversing regulator -> regulator ones;
    returns the extended edges and the feedback flags."""
    feedback = np.zeros(src.size, dtype=bool)
    # Negative feedback: reverse a few regulator -> regulator edges with a weak, mostly
    # repressive edge. Loop gain stays below one, so the steady state is unique.
    is_reg = np.isin(dst, regulators)
    candidates = np.flatnonzero(is_reg)
    n_fb = min(cfg.n_feedback_edges, candidates.size)
    if n_fb:
        picked = rng.choice(candidates, size=n_fb, replace=False)
        fb_sign = np.where(rng.random(n_fb) < 0.8, -1.0, 1.0)
        fb_weight = fb_sign * rng.uniform(0.3, cfg.feedback_weight_max, size=n_fb)
        src = np.concatenate([src, dst[picked]])
        dst = np.concatenate([dst, src[picked]])
        weight = np.concatenate([weight, fb_weight])
        feedback = np.concatenate([feedback, np.ones(n_fb, dtype=bool)])
    return src, dst, weight, feedback
