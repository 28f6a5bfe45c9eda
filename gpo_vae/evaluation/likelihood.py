"""Held-out importance-weighted ELBO (IWELBO) of a trained model."""

from __future__ import annotations

import math

import numpy as np
import torch

from gpo_vae.config import check_count
from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.progress import progress as progress_bar
from gpo_vae.stats import seeded_torch


@torch.no_grad()
def split_iwelbo(module, prepared, split: str = "test", n_particles: int = 100,
                 max_elements: int = 40_000_000, seed: int = 0) -> dict:
    """Mean IWELBO per cell of ``split`` with ``n_particles`` importance samples.

    Each particle draws the global variables (M, E, E_qc) and z_basal from the guide;
    the global KL enters each cell with its plated weight, as in training. Batches are
    sized so particles x cells x genes stays under ``max_elements``. Returns the mean, its
    standard error over cells and the number of cells.
    """
    n_particles = check_count(n_particles, "n_particles")
    dataset = PerturbationDataset(prepared, split)
    if len(dataset) == 0:
        raise ValueError(f"the {split} split has no cells")
    device = next(module.parameters()).device
    batch_size = max(1, min(512, max_elements // (n_particles * module.data_info.n_genes)))
    values = []
    with seeded_torch(seed):
        starts = range(0, len(dataset), batch_size)
        for start in progress_bar(starts, desc=f"IWELBO ({split})"):
            batch = dataset[list(range(start, min(start + batch_size, len(dataset))))]
            batch = {k: v.to(device) for k, v in batch.items()}
            values.append(module.iwelbo(batch, n_particles).cpu().numpy())
    per_cell = np.concatenate(values)
    return {"iwelbo": float(per_cell.mean()),
            "standard_error": float(per_cell.std(ddof=1) / math.sqrt(per_cell.size))
            if per_cell.size > 1 else 0.0,
            "n_cells": int(per_cell.size), "n_particles": n_particles}
