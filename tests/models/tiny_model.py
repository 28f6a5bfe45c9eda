"""Tiny model pieces for tests: a DataInfo and a random batch of matching shapes (the
tiny config itself is the ``tiny_model_config`` fixture, from the shared factory)."""

from __future__ import annotations

import torch

from gpo_vae.models.builder import DataInfo

N_GENES, N_TREATMENTS, N_PERTURBED = 30, 8, 5


def tiny_info(n_treatments: int = N_TREATMENTS) -> DataInfo:
    train_cells = [20] * N_PERTURBED + [0] * (n_treatments - N_PERTURBED)
    return DataInfo(
        gene_names=[f"G{i}" for i in range(N_GENES)],
        treatment_names=[f"G{i}" for i in range(n_treatments)],
        treatment_kinds=["perturbed"] * N_PERTURBED + ["extra"] * (n_treatments - N_PERTURBED),
        treatment_measured=[True] * n_treatments,
        train_cells_per_treatment=train_cells,
        train_cells_per_qc=[90, 30], n_train_cells=120)


def random_batch(n_cells: int = 12, n_treatments: int = N_TREATMENTS, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    counts = torch.poisson(torch.rand(n_cells, N_GENES, generator=g) * 4)
    dosages = torch.zeros(n_cells, n_treatments)
    targets = torch.arange(n_cells) % (N_PERTURBED + 1)     # the last group: controls
    treated = targets < N_PERTURBED
    dosages[treated.nonzero(as_tuple=True)[0], targets[treated]] = 1.0
    dosages[0, 1] = 1.0                                       # one double perturbation
    return {
        "counts": counts, "dosages": dosages,
        "qc": (torch.arange(n_cells) % 4 == 0).float(),
        "counterfactual": counts.flip(0),
        "has_counterfactual": torch.arange(n_cells) % 3 != 0,
        "delta_x": torch.rand(n_cells, n_treatments, generator=g),
        "library_size": counts.sum(1),
    }
