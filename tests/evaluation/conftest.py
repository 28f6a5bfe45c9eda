"""Tiny trained runs for evaluation tests (trained once per session, a few seconds)."""

from __future__ import annotations

import pytest

from gpo_vae.config import config_from_dict
from gpo_vae.io import write_h5ad_atomic


@pytest.fixture(scope="session")
def evaluation_screen(small_screen, tmp_path_factory):
    path = tmp_path_factory.mktemp("eval_screen") / "small.h5ad"
    write_h5ad_atomic(small_screen, path)
    return path


def _train(screen, out, split: str):
    from gpo_vae.training.train import train

    config = config_from_dict({
        "name": f"eval_{split}", "output_dir": str(out),
        "data": {"preset": "simulated", "path": str(screen), "batch_size": 128,
                 "split": split},
        "model": {"n_latent": 6, "decoder_n_hidden": 32},
        "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
                  "embedding_encoder_n_layers": 1},
        "training": {"max_steps": 20, "n_particles": 2, "lr": 3e-3},
        "logging": {"progress_bar": False}})
    return train(config, progress=False, log=lambda m: None).run_dir


@pytest.fixture(scope="session")
def cells_run(evaluation_screen, tmp_path_factory):
    """A run folder trained a few steps with split=cells."""
    return _train(evaluation_screen, tmp_path_factory.mktemp("eval_cells"), "cells")


@pytest.fixture(scope="session")
def perturbations_run(evaluation_screen, tmp_path_factory):
    """A run folder trained a few steps with split=perturbations (unseen in test)."""
    return _train(evaluation_screen, tmp_path_factory.mktemp("eval_perts"), "perturbations")
