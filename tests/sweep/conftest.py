"""Fixtures for sweep tests: the small screen on disk and a tiny base config."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_files import write_base_config

from gpo_vae.io import write_h5ad_atomic


@pytest.fixture(scope="session")
def sweep_screen(small_screen, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep_screen") / "small.h5ad"
    write_h5ad_atomic(small_screen, path)
    return path


@pytest.fixture()
def base_config(sweep_screen, tmp_path) -> Path:
    return write_base_config(tmp_path / "base.yaml", sweep_screen, tmp_path / "runs")


@pytest.fixture(autouse=True)
def no_parent_redun(monkeypatch, tmp_path):
    """redun searches parent folders for .redun/: keep any such config out of the tests."""
    monkeypatch.setenv("REDUN_CONFIG", str(tmp_path / "redun_config"))
