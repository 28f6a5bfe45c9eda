"""Fixtures for sweep tests: a tiny base config file on the small screen (shared factory
in tests/conftest.py) and no redun config from parent folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

#: Overrides of the shared tiny defaults: six steps of a smaller model, big batches.
SWEEP_BASE = {"data": {"batch_size": 256}, "model": {"n_latent": 6},
              "guide": {"embedding_encoder_n_layers": 1}, "training": {"max_steps": 6}}


@pytest.fixture(scope="session")
def write_base_config(tiny_settings):
    """``write_base_config(path, screen, output_dir)``: a base config (YAML) that trains
    in a few seconds on ``screen``; returns ``path``."""
    def write(path: Path, screen: Path, output_dir: Path) -> Path:
        config = tiny_settings(output_dir, screen, name="tiny_sweep", **SWEEP_BASE)
        path.write_text(yaml.safe_dump(config))
        return path
    return write


@pytest.fixture()
def base_config(write_base_config, small_screen_path, tmp_path) -> Path:
    return write_base_config(tmp_path / "base.yaml", small_screen_path, tmp_path / "runs")


@pytest.fixture(autouse=True)
def no_parent_redun(monkeypatch, tmp_path):
    """redun searches parent folders for .redun/: keep any such config out of the tests."""
    monkeypatch.setenv("REDUN_CONFIG", str(tmp_path / "redun_config"))
