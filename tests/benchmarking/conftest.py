"""A tiny benchmark config on the small simulated screen (one epoch per trained run)."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture()
def benchmark_config(tiny_settings, small_screen_path, shared_cache, tmp_path):
    """``benchmark_config(**sections)`` -> path of a tiny config YAML in a fresh folder."""
    def make(**sections):
        sections.setdefault("training", {}).update({"max_epochs": 1,
                                                   "diagnostics_every_n_epochs": 0})
        settings = tiny_settings(tmp_path / "results", small_screen_path, shared_cache,
                                 name="bench", **sections)
        path = tmp_path / "bench.yaml"
        path.write_text(yaml.safe_dump(settings))
        return path
    return make
