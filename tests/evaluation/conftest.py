"""Tiny trained runs for evaluation tests (trained once per session, a few seconds)."""

from __future__ import annotations

import pytest


def _train(tiny_config, screen, cache, out, split: str):
    from gpo_vae.training.train import train

    config = tiny_config(out, screen, cache, name=f"eval_{split}", data={"split": split},
                         model={"n_latent": 6}, guide={"embedding_encoder_n_layers": 1},
                         training={"max_steps": 20})
    return train(config).run_dir


@pytest.fixture(scope="session")
def cells_run(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    """A run folder trained a few steps with split=cells."""
    return _train(tiny_config, small_screen_path, shared_cache,
                  tmp_path_factory.mktemp("eval_cells"), "cells")


@pytest.fixture(scope="session")
def perturbations_run(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    """A run folder trained a few steps with split=perturbations (unseen in test)."""
    return _train(tiny_config, small_screen_path, shared_cache,
                  tmp_path_factory.mktemp("eval_perts"), "perturbations")
