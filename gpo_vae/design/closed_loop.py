"""Closed-loop validation of designs on the simulator that made the training data.

Each designed intervention is applied in the mechanistic simulator (same network, new
cells, :class:`~gpo_vae.simulation.intervene.InterventionSimulator`); its measured ATE
is scored against the target with the design's own distance, beside random
interventions of the same size and the exhaustive baseline's best. The simulator is
the truth here: the model never sees these cells.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from gpo_vae.constants import UNS_SIMULATION
from gpo_vae.design.distance import get_distance
from gpo_vae.design.search import DesignResult
from gpo_vae.design.targets import DesignTarget
from gpo_vae.errors import InputDataError
from gpo_vae.simulation.intervene import InterventionSimulator


def simulation_settings(prepared=None, config=None) -> Mapping:
    """The ``uns['simulation']`` of a run's screen: from its prepared data, or read from
    the raw file its config names; a one-line error when the data were not simulated."""
    if prepared is not None and UNS_SIMULATION in prepared.uns:
        return prepared.uns[UNS_SIMULATION]
    path = getattr(getattr(config, "data", None), "path", None)
    if path:
        from gpo_vae.io import read_h5ad

        raw = read_h5ad(path, backed=True)
        try:
            if UNS_SIMULATION in raw.uns:
                return dict(raw.uns[UNS_SIMULATION])
        finally:
            raw.file.close()
    raise InputDataError("--validate-with-simulator needs a run trained on data made by "
                         "`gpo-vae simulate` (its uns['simulation'] is missing)")


def simulated_distances(simulator: InterventionSimulator, interventions: list[tuple[str, ...]],
                        target: DesignTarget, metric: str, *, n_cells: int = 300,
                        seed: int = 0) -> np.ndarray:
    """The distance to ``target`` of each intervention's measured ATE in new cells."""
    genes, values = target.aligned(simulator.gene_names)
    ates = simulator.ates(interventions, n_cells=n_cells, seed=seed).to_numpy()[:, genes]
    distance = get_distance(metric)
    return distance(torch.as_tensor(ates), torch.as_tensor(values)).numpy()


def validate_designs(result: DesignResult, simulation: Mapping, *, n_designs: int = 5,
                     n_random: int = 20, n_cells: int = 300, seed: int = 0):
    """Simulate the top ``n_designs`` designs, ``n_random`` random interventions of the
    best design's size (drawn from the same allowed genes) and the best intervention of
    the exhaustive baseline; return the per-intervention table and a summary.

    Deterministic for a fixed ``seed`` (the simulator draws its cells from it).
    """
    if result.settings.signed:
        raise InputDataError("the simulator only knocks genes down; validate unsigned designs "
                             "(without --signed)")
    simulator = InterventionSimulator(simulation)
    designs = [tuple(g for g, _ in i) for i in result.interventions[:n_designs]]
    size = len(designs[0])
    allowed = sorted({g for i in result.baseline_interventions for g, _ in i})
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    random = [tuple(sorted(rng.choice(allowed, size=size, replace=False).tolist()))
              for _ in range(n_random)]
    exhaustive = tuple(g for g, _ in result.baseline_interventions[0])
    kinds = ["design"] * len(designs) + ["random"] * len(random) + ["exhaustive baseline"]
    every = designs + random + [exhaustive]
    measured = simulated_distances(simulator, every, result.target, result.settings.metric,
                                   n_cells=n_cells, seed=seed)
    predicted = dict(zip(result.designs["intervention"], result.designs["predicted_distance"],
                         strict=True))
    table = pd.DataFrame({"kind": kinds, "intervention": ["+".join(i) for i in every],
                          "simulated_distance": measured})
    table["predicted_distance"] = table["intervention"].map(predicted)
    best, rand = float(measured[0]), measured[len(designs):len(designs) + len(random)]
    summary = {
        "best_design": table["intervention"].iloc[0],
        "best_design_simulated_distance": best,
        "random_median_simulated_distance": float(np.median(rand)),
        "random_to_design_ratio": float(np.median(rand) / max(best, 1e-12)),
        "exhaustive_best": table["intervention"].iloc[-1],
        "exhaustive_best_simulated_distance": float(measured[-1]),
        "n_random": n_random, "n_cells": n_cells, "seed": seed,
    }
    return table, summary
