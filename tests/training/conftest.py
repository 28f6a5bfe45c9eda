"""Fixtures for training tests: the small simulated screen on disk and tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpo_vae.config import config_from_dict
from gpo_vae.io import write_h5ad_atomic


@pytest.fixture(scope="session")
def small_screen_path(small_screen, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("screen") / "small.h5ad"
    write_h5ad_atomic(small_screen, path)
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One prepared-data cache for all training tests (preparing is the slow part)."""
    return tmp_path_factory.mktemp("cache")


def tiny_settings(screen: Path, cache: Path, output_dir: Path, **training) -> dict:
    """A config dict that trains in seconds on the small screen."""
    return {
        "name": "tiny", "output_dir": str(output_dir),
        "data": {"preset": "simulated", "path": str(screen), "batch_size": 128,
                 "cache_dir": str(cache)},
        "model": {"n_latent": 8, "decoder_n_hidden": 32},
        "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
                  "embedding_encoder_n_layers": 2},
        "training": {"max_epochs": 2, "n_particles": 2, "lr": 3e-3, **training},
        "logging": {"progress_bar": False},
    }


@pytest.fixture()
def make_config(small_screen_path, shared_cache, tmp_path):
    def make(**training):
        return config_from_dict(tiny_settings(small_screen_path, shared_cache, tmp_path,
                                              **training))
    return make
