"""Fixtures for training tests: ``make_config(**training)``, a tiny config that trains
two epochs on the small screen (shared factory in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def make_config(tiny_config, small_screen_path, shared_cache, tmp_path):
    """``make_config(**training)``: two epochs on the small screen into tmp_path, the
    session's prepared-data cache; keywords update the training section."""
    def make(**training):
        return tiny_config(tmp_path, small_screen_path, shared_cache,
                           training={"max_epochs": 2, **training})
    return make
