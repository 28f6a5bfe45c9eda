"""New cells of a simulated screen under chosen interventions: the closed loop of
``gpo-vae design --validate-with-simulator``.

The screen's seed and settings (``uns['simulation']``) fix its network, baseline levels,
expression programs and dispersions; cells drawn here share them, with fresh cell-level
noise from their own seed. Each targeted gene is knocked down by the mean efficiency of
its guides in the screen; no cell escapes, none is damaged or a doublet, so the ATE
measured from these cells is the intervention's effect and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from gpo_vae.errors import InputDataError
from gpo_vae.simulation.cells import design_cells
from gpo_vae.simulation.config import SimulationConfig
from gpo_vae.simulation.simulator import CONTROL_LABEL, screen_structure
from gpo_vae.stats import group_means, perturbseq_transform

#: the simulator's cells carry at most two perturbations (``perturbation2``)
MAX_SIMULATED_TARGETS = 2


def config_of_screen(simulation: Mapping) -> tuple[SimulationConfig, int]:
    """The settings and seed a screen was simulated with, from its ``uns['simulation']``."""
    names = {f.name for f in fields(SimulationConfig)}
    values = {k: (v.item() if hasattr(v, "item") else v) for k, v in simulation.items()
              if k in names}
    if "seed" not in simulation or not values:
        raise InputDataError("the screen has no simulation settings (uns['simulation']); "
                             "closed-loop validation needs data made by `gpo-vae simulate`")
    return SimulationConfig(**values), int(simulation["seed"])


class InterventionSimulator:
    """Draws new cells of one simulated screen under interventions (tuples of gene
    symbols of the screen's perturbed genes; the empty tuple is a control cell).

    Examples
    --------
    >>> simulator = InterventionSimulator(screen.uns["simulation"])      # doctest: +SKIP
    >>> simulator.ates([("G0012",), ("G0003", "G0031")], seed=1)          # doctest: +SKIP
    """

    def __init__(self, simulation: Mapping):
        self.cfg, self.seed = config_of_screen(simulation)
        self.structure = screen_structure(self.cfg, self.seed)
        structure = self.structure
        guides, _ = design_cells(np.random.default_rng(structure.design_seq), self.cfg,
                                  structure.network, structure.genes)
        symbols = structure.genes.symbols[structure.network.perturbed]
        self.index = {str(s): i for i, s in enumerate(symbols)}
        self.efficiency = guides[guides["perturbation"] >= 0].groupby(
            "perturbation")["efficiency"].mean().reindex(range(symbols.size)).to_numpy()
        self.gene_names = [str(g) for g in structure.genes.symbols[structure.measured]]

    @property
    def perturbable(self) -> list[str]:
        return list(self.index)

    def _design(self, interventions: Sequence[tuple[str, ...]], n_cells: int,
                rng) -> pd.DataFrame:
        rows = []
        for k, genes in enumerate(interventions):
            if len(genes) > MAX_SIMULATED_TARGETS:
                raise InputDataError(
                    f"the simulator perturbs at most {MAX_SIMULATED_TARGETS} genes per cell; "
                    f"{'+'.join(genes)} has {len(genes)}: validate designs with "
                    f"--max-perturbations {MAX_SIMULATED_TARGETS} or fewer")
            unknown = [g for g in genes if g not in self.index]
            if unknown:
                raise InputDataError(f"{unknown[0]!r} is not a perturbed gene of the simulated "
                                     "screen; only its perturbed genes can be intervened on")
            codes = [self.index[g] for g in genes] + [-1, -1]
            rows.append((k, codes[0], codes[1]))
        table = pd.DataFrame(rows, columns=["condition", "perturbation", "perturbation2"])
        table = table.loc[table.index.repeat(n_cells)].reset_index(drop=True)
        first, second = table["perturbation"].to_numpy(), table["perturbation2"].to_numpy()

        def efficiency(codes):
            return np.where(codes >= 0, self.efficiency[np.maximum(codes, 0)], 0.0)

        n = len(table)
        library = rng.lognormal(np.log(self.cfg.library_size_median),
                                self.cfg.library_size_log_sd, size=n)
        return table.assign(knockdown=efficiency(first), knockdown2=efficiency(second),
                            escaped=False, low_quality=False, doublet=False,
                            library_size=library)

    def cells(self, interventions: Sequence[tuple[str, ...]], n_cells: int = 300,
              seed: int = 0) -> AnnData:
        """Raw counts of ``n_cells`` new cells per intervention, ``obs['condition']``
        naming it (``A+B``; controls ``non-targeting``)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, seed, 7]))
        interventions = [tuple(i) for i in interventions]
        design = self._design(interventions, n_cells, rng)
        chunk = max(64, self.cfg.chunk_entries // self.structure.genes.symbols.size)
        blocks = [self.structure.sample_counts(rng, design.iloc[s:s + chunk])
                  for s in range(0, len(design), chunk)]
        labels = ["+".join(i) if i else CONTROL_LABEL for i in interventions]
        obs = pd.DataFrame({"condition": np.repeat(labels, n_cells)},
                           index=[f"loop_{i}" for i in range(len(design))])
        return AnnData(X=sp.vstack(blocks).tocsr(), obs=obs,
                       var=pd.DataFrame(index=self.gene_names))

    def ates(self, interventions: Sequence[tuple[str, ...]], n_cells: int = 300,
             n_control_cells: int = 1000, seed: int = 0) -> pd.DataFrame:
        """Measured "perturbseq" ATEs (interventions x measured genes) of new cells:
        their mean ``log2(1 + 1e4 x / total)`` minus that of new control cells."""
        interventions = [tuple(i) for i in interventions]
        unique = list(dict.fromkeys(interventions))    # each simulated once, then repeated
        treated = self.cells(unique, n_cells, seed)
        control = self.cells([()], n_control_cells, seed + 1_000_003)
        control_mean = np.asarray(perturbseq_transform(control.X).mean(axis=0)).ravel()
        labels = ["+".join(i) if i else CONTROL_LABEL for i in unique]
        means, _ = group_means(perturbseq_transform(treated.X),
                               treated.obs["condition"].to_numpy(), labels)
        ates = pd.DataFrame(means - control_mean, index=labels, columns=self.gene_names)
        return ates.loc[["+".join(i) if i else CONTROL_LABEL for i in interventions]]
