"""Shared fixtures: tiny simulated screens made on the fly (no data files committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpo_vae.simulation import simulate_perturbseq

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


def shared_file(*parts: str) -> Path:
    """Path of a real data file under ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path}; see ../shared/data/README.md")
    return path


@pytest.fixture()
def papalexi_path() -> Path:
    """The real Papalexi 2021 ECCITE-seq screen (skips when ../shared/data is absent)."""
    return shared_file("papalexi2021", "papalexi2021_thp1_eccite_299genes.h5ad")
