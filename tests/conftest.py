"""Shared fixtures: tiny simulated screens made on the fly (no data files committed) and
the one factory for tiny configs that train in seconds on them.

- ``small_screen``: the ``small`` simulated preset, seed 0, as AnnData (session);
- ``small_copy``: a private copy of it that a test may change;
- ``small_screen_path``: that screen written once to an h5ad file (session; read only);
- ``shared_cache``: one prepared-data cache folder for the session (preparing is slow);
- ``tiny_settings``: ``tiny_settings(output_dir=None, screen=None, cache=None,
  name="tiny", **sections)`` -> a config *dict*; each keyword section (``model=``,
  ``training=``, ...) updates that section of the tiny defaults;
- ``tiny_config``: the same arguments -> a validated :class:`gpo_vae.config.Config`.

Directories under tests/ add their own overrides on top (tests/models: smaller
networks and no data; tests/training: ``make_config``, two epochs on the small screen).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gpo_vae.simulation import simulate_perturbseq

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

#: The tiny networks shared by every test that builds or trains a model.
TINY_DEFAULTS = {
    "model": {"n_latent": 8, "decoder_n_hidden": 32},
    "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
              "embedding_encoder_n_layers": 2},
    "training": {"n_particles": 2, "lr": 3e-3},
    "logging": {"progress_bar": False},
}


def _tiny_settings(output_dir: str | os.PathLike | None = None,
                   screen: str | os.PathLike | None = None,
                   cache: str | os.PathLike | None = None, name: str = "tiny",
                   **sections: dict) -> dict:
    settings = {"name": name, **copy.deepcopy(TINY_DEFAULTS)}
    if output_dir is not None:
        settings["output_dir"] = str(output_dir)
    if screen is not None:
        settings["data"] = {"preset": "simulated", "path": str(screen), "batch_size": 128}
        if cache is not None:
            settings["data"]["cache_dir"] = str(cache)
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    return settings


def pytest_collection_modifyitems(config, items):
    """Leave out ``slow`` tests unless the ``-m`` expression names ``slow`` itself.

    This was ``-m 'not slow'`` in addopts, but a second ``-m`` (``-m "not integration"``)
    replaces the first, so slow tests came back; deselecting here combines the two."""
    if "slow" in (config.option.markexpr or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="session")
def small_screen():
    """The ``small`` simulated preset, seed 0 (about 1.5k cells x 200 genes)."""
    return simulate_perturbseq("small", seed=0)


@pytest.fixture()
def small_copy(small_screen):
    """A private copy of the small screen that a test may break."""
    return small_screen.copy()


@pytest.fixture(scope="session")
def small_screen_path(small_screen, tmp_path_factory) -> Path:
    """The small screen written once as h5ad; tests read it and never change it."""
    from gpo_vae.io import write_h5ad_atomic

    path = tmp_path_factory.mktemp("screen") / "small.h5ad"
    write_h5ad_atomic(small_screen, path)
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One prepared-data cache for the session (entries are keyed by input and settings)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_settings() -> Callable[..., dict]:
    """Factory of tiny config dicts: ``tiny_settings(output_dir, screen, cache, name,
    **sections)``. Without ``screen`` there is no data section (model-only configs)."""
    return _tiny_settings


@pytest.fixture(scope="session")
def tiny_config(tiny_settings):
    """Factory of tiny :class:`Config` objects (the arguments of ``tiny_settings``)."""
    from gpo_vae.config import config_from_dict

    def make(*args, **kwargs):
        return config_from_dict(tiny_settings(*args, **kwargs))
    return make


@pytest.fixture(scope="session")
def small_prepared(small_screen):
    """The small screen prepared in memory (``gv.prepare``, preset ``simulated``); read only."""
    import gpo_vae as gv

    return gv.prepare(small_screen, preset="simulated")


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


@pytest.fixture(autouse=True)
def _package_settings_as_they_were():
    """gv.settings and the package logger's level after every test as before it (the
    tutorial, run in-process, turns progress bars off as a notebook would)."""
    import logging

    from gpo_vae._settings import settings

    bars, level = settings.progress_bar, logging.getLogger("gpo_vae").level
    yield
    settings.progress_bar = bars
    logging.getLogger("gpo_vae").setLevel(level)
