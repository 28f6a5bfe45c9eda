"""Fixtures for the design tests: a tiny untrained model (random weights) whose own
predictions serve as targets with a known answer, and the small screen's truth."""

from __future__ import annotations

import pytest
import torch

from gpo_vae.models.builder import DataInfo, build_gpo_vae

N_GENES, N_TREATMENTS = 40, 6


@pytest.fixture(scope="module")
def tiny_module(tiny_config):
    """A GPO-VAE module over 40 genes and 6 perturbed genes, random weights made
    confident: q(M) keeps each gene's own row (and little else) and q(E | M) has tiny
    scales and sizeable means, so each perturbation has its own clear predicted effect."""
    info = DataInfo(gene_names=[f"G{i}" for i in range(N_GENES)],
                    treatment_names=[f"G{i}" for i in range(N_TREATMENTS)],
                    treatment_kinds=["perturbed"] * N_TREATMENTS,
                    treatment_measured=[True] * N_TREATMENTS,
                    train_cells_per_treatment=[20] * N_TREATMENTS,
                    train_cells_per_qc=[100, 20], n_train_cells=120)
    config = tiny_config(model={"n_latent": 6, "decoder_n_hidden": 16})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = build_gpo_vae(config, info)
        guide = module.guide
        with torch.no_grad():
            guide.mask_logits.copy_(torch.full_like(guide.mask_logits, -6.0)
                                    + 12.0 * torch.eye(N_TREATMENTS))
            out = guide.edge_encoder.out
            out.weight[:N_TREATMENTS] *= 60.0
            out.weight[N_TREATMENTS:] = 0.0
            out.bias[N_TREATMENTS:] = -8.0
    return module.eval()
