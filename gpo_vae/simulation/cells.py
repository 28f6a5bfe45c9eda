"""The per-cell design of a simulated screen: guides, targets (singles and doubles,
partial combinatorial designs), knockdown efficiencies, artefacts and library sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpo_vae.constants import DEFAULT_CONTROL_LABEL as CONTROL_LABEL
from gpo_vae.simulation.config import SimulationConfig
from gpo_vae.simulation.genes import GeneTable
from gpo_vae.simulation.network import GeneNetwork


def design_cells(rng, cfg: SimulationConfig, network: GeneNetwork, genes: GeneTable):
    """Guides and per-cell design: target, guide, knockdown, artefacts, library size."""
    pert_symbols = genes.symbols[network.perturbed]
    guide_rows = [
        (f"non-targeting_{j + 1:05d}", CONTROL_LABEL, -1, 0.0) for j in range(cfg.n_control_guides)
    ]
    for p, symbol in enumerate(pert_symbols):
        efficiency = rng.uniform(cfg.knockdown_min, cfg.knockdown_max,
                                 size=cfg.guides_per_perturbation)
        guide_rows += [(f"{symbol}_g{j + 1}", symbol, p, e) for j, e in enumerate(efficiency)]
    guides = pd.DataFrame(guide_rows, columns=["guide_id", "gene", "perturbation", "efficiency"])

    n = cfg.n_cells
    n_control = max(1, round(cfg.control_fraction * n))
    share = rng.lognormal(0.0, 0.4, size=network.perturbed.size)
    per_pert = rng.multinomial(n - n_control, share / share.sum())
    pert_of_cell = rng.permutation(
        np.concatenate([np.full(n_control, -1), np.repeat(np.arange(per_pert.size), per_pert)])
    )
    guide_of_cell = np.empty(n, dtype=np.int64)
    for p in range(-1, network.perturbed.size):
        cells = np.flatnonzero(pert_of_cell == p)
        options = np.flatnonzero(guides["perturbation"].to_numpy() == p)
        guide_of_cell[cells] = rng.choice(options, size=cells.size)

    efficiency = guides["efficiency"].to_numpy()[guide_of_cell]
    efficiency = efficiency + rng.normal(0.0, cfg.knockdown_cell_sd, size=n) * (pert_of_cell >= 0)
    escaped = (rng.random(n) < cfg.escape_fraction) & (pert_of_cell >= 0)
    efficiency[escaped] = rng.uniform(0.0, 0.2, size=escaped.sum())
    efficiency = np.clip(efficiency, 0.0, 0.99)

    low_quality = rng.random(n) < cfg.low_quality_fraction
    doublet = (rng.random(n) < cfg.doublet_fraction) & ~low_quality
    library = rng.lognormal(np.log(cfg.library_size_median), cfg.library_size_log_sd, size=n)
    library[low_quality] *= rng.uniform(0.15, 0.45, size=low_quality.sum())
    library[doublet] *= rng.uniform(1.6, 2.0, size=doublet.sum())
    # drawn after everything else, so that screens without doubles stay as they were
    second, guide2, efficiency2 = np.full(n, -1), np.full(n, -1), np.zeros(n)
    if cfg.double_fraction > 0:
        pert_of_cell, guide_of_cell, efficiency, escaped, second, guide2, efficiency2 = \
            _design_doubles(rng, cfg, guides, network.perturbed.size, pert_of_cell,
                            guide_of_cell, efficiency, escaped)
    cells = pd.DataFrame(
        {
            "perturbation": pert_of_cell,
            "perturbation2": second,
            "guide": guide_of_cell,
            "guide2": guide2,
            "knockdown2": efficiency2,
            "knockdown": np.where(pert_of_cell >= 0, efficiency, 0.0),
            "escaped": escaped,
            "low_quality": low_quality,
            "doublet": doublet,
            "library_size": library,
        }
    )
    return guides, cells


def _design_doubles(rng, cfg: SimulationConfig, guides: pd.DataFrame, n_perturbed: int,
                    pert_of_cell, guide_of_cell, efficiency, escaped):
    """Turn ``cfg.double_fraction`` of all cells (perturbed ones) into doubles of
    ``cfg.n_double_pairs`` random pairs of perturbed genes: each gets a guide against
    both genes of its pair, with their own knockdown efficiencies."""
    from itertools import combinations

    all_pairs = np.array(list(combinations(range(n_perturbed), 2)))
    pairs = all_pairs[np.sort(rng.choice(len(all_pairs), size=cfg.n_double_pairs,
                                         replace=False))]
    perturbed = np.flatnonzero(pert_of_cell >= 0)
    n_double = min(perturbed.size, round(cfg.double_fraction * pert_of_cell.size))
    chosen = rng.choice(perturbed, size=n_double, replace=False)
    pair_of = rng.integers(0, len(pairs), size=n_double)
    pert, guide, eff, esc = (x.copy() for x in (pert_of_cell, guide_of_cell, efficiency,
                                                escaped))
    n = pert.size
    second, guide2, eff2 = np.full(n, -1), np.full(n, -1), np.zeros(n)
    target, guide_eff = guides["perturbation"].to_numpy(), guides["efficiency"].to_numpy()
    for k, (a, b) in enumerate(pairs):
        cells = chosen[pair_of == k]
        pert[cells], second[cells] = a, b
        guide[cells] = rng.choice(np.flatnonzero(target == a), size=cells.size)
        guide2[cells] = rng.choice(np.flatnonzero(target == b), size=cells.size)
        for out, g in ((eff, guide), (eff2, guide2)):
            noise = rng.normal(0.0, cfg.knockdown_cell_sd, size=cells.size)
            out[cells] = np.clip(guide_eff[g[cells]] + noise, 0.0, 0.99)
    esc[chosen] = False
    if cfg.pair_only_fraction > 0:
        _pair_only(rng, cfg, pairs, target, guide_eff, pert, second, guide, guide2, eff, eff2,
                   esc)
    return pert, guide, eff, esc, second, guide2, eff2


def _pair_only(rng, cfg: SimulationConfig, pairs: np.ndarray, target, guide_eff, pert, second,
               guide, guide2, eff, eff2, esc) -> None:
    """Make ``cfg.pair_only_fraction`` of the genes in pairs never perturbed alone: each of
    their single cells becomes a double of a random pair holding the gene (in place)."""
    in_pairs = np.unique(pairs)
    n_only = int(round(cfg.pair_only_fraction * in_pairs.size))
    for gene in rng.choice(in_pairs, size=n_only, replace=False):
        cells = np.flatnonzero((pert == gene) & (second < 0))
        options = pairs[(pairs == gene).any(1)]
        chosen = options[rng.integers(0, len(options), size=cells.size)]
        pert[cells], second[cells] = chosen[:, 0], chosen[:, 1]
        for out, g, column in ((eff, guide, 0), (eff2, guide2, 1)):
            genes = chosen[:, column]
            g[cells] = [rng.choice(np.flatnonzero(target == x)) for x in genes]
            noise = rng.normal(0.0, cfg.knockdown_cell_sd, size=cells.size)
            out[cells] = np.clip(guide_eff[g[cells]] + noise, 0.0, 0.99)
        esc[cells] = False

