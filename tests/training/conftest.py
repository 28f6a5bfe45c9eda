"""Fixtures for training tests: the small simulated screen on disk and tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_training import tiny_settings

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


@pytest.fixture()
def make_config(small_screen_path, shared_cache, tmp_path):
    def make(**training):
        return config_from_dict(tiny_settings(small_screen_path, shared_cache, tmp_path,
                                              **training))
    return make
