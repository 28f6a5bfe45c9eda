"""Shared fixtures: tiny simulated screens made on the fly (no data files committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpo_vae.simulate import simulate_perturbseq

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_screen():
    """The ``small`` simulated preset, seed 0 (about 1.5k cells x 200 genes)."""
    return simulate_perturbseq("small", seed=0)


@pytest.fixture()
def small_copy(small_screen):
    """A private copy of the small screen that a test may break."""
    return small_screen.copy()
