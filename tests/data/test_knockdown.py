"""The knockdown filter (gpo_vae.data.knockdown): escapers dropped, combinations need
every target, activation screens keep cells whose target rose."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gpo_vae.data.knockdown import knockdown_filter
from gpo_vae.errors import ConfigError, InputDataError

CONTROL = "non-targeting"
KEYS = {"perturbation_key": "gene", "control_label": CONTROL}


def test_knockdown_filter_drops_escapers(small_screen):
    out, report = knockdown_filter(small_screen, gene_symbol_key="gene_name", **KEYS)
    obs = small_screen.obs
    kept = small_screen.obs_names.isin(out.obs_names)
    measured = obs["gene"].astype(str).map(
        small_screen.uns["perturbations"]["measured"]).eq(True).to_numpy()
    escaper = obs["sim_escaped"].to_numpy() & measured
    strong = (obs["sim_knockdown"].to_numpy() > 0.7) & measured
    assert escaper.sum() > 30
    drop_escaper, drop_strong = (~kept[escaper]).mean(), (~kept[strong]).mean()
    assert drop_escaper > 0.7
    assert drop_escaper > 2.5 * drop_strong
    assert kept[(obs["gene"] == CONTROL).to_numpy()].all()
    assert kept[~measured & (obs["gene"] != CONTROL).to_numpy()].all()
    per = report["per_perturbation"]
    assert sum(v["kept"] + v["dropped"] for v in per.values()) == (obs["gene"] != CONTROL).sum()
    unmeasured = small_screen.uns["perturbations"].query("~measured").index
    assert all(not per[p]["measured"] and per[p]["dropped"] == 0 for p in unmeasured)
    assert sp.issparse(out.X)


def test_knockdown_filter_combinations_need_every_target(small_screen):
    adata = small_screen.copy()
    perts = adata.uns["perturbations"].query("measured").index[:2]
    a, b = perts
    labels = adata.obs["gene"].astype(str).to_numpy().copy()
    labels[labels == a] = f"{a}+{b}"
    adata.obs["gene"] = labels
    single, _ = knockdown_filter(small_screen, gene_symbol_key="gene_name", **KEYS)
    combo, report = knockdown_filter(adata, gene_symbol_key="gene_name",
                                     combination_separator="+", **KEYS)
    # A+B cells (really A knockdowns) must also be low for B, so fewer are kept than as A
    kept_single = report["per_perturbation"][f"{a}+{b}"]["kept"]
    assert kept_single < (single.obs["gene"] == a).sum()
    assert set(combo.obs_names[combo.obs["gene"] == f"{a}+{b}"]) <= set(
        single.obs_names[single.obs["gene"] == a])


def test_knockdown_filter_settings_errors(small_screen):
    with pytest.raises(ConfigError):
        knockdown_filter(small_screen, gene_symbol_key="gene_name", quantile=1.5, **KEYS)
    with pytest.raises(InputDataError, match="no control cells"):
        knockdown_filter(small_screen, gene_symbol_key="gene_name",
                         perturbation_key="gene", control_label="ctrl")


# --- small perturbations ---------------------------------------------------------------


def _activation_screen(small_screen):
    """The small screen with one measured target raised (not lowered) in half its cells."""
    adata = small_screen.copy()
    target = adata.uns["perturbations"].query("measured").index[0]
    column = int(np.flatnonzero(adata.var["gene_name"].astype(str).to_numpy() == target)[0])
    cells = np.flatnonzero(adata.obs["gene"].astype(str).to_numpy() == target)
    raised = cells[: cells.size // 2]
    X = sp.lil_matrix(adata.X)
    for i in raised:
        X[i, column] = 200.0
    adata.X = sp.csr_matrix(X)
    return adata, target, adata.obs_names[raised]


def test_activation_screens_keep_cells_whose_target_rose(small_screen):
    adata, target, raised = _activation_screen(small_screen)
    up, report = knockdown_filter(adata, gene_symbol_key="gene_name", direction="up", **KEYS)
    kept = set(up.obs_names[up.obs["gene"] == target])
    assert set(raised) <= kept and report["per_perturbation"][target]["dropped"] > 0
    down, _ = knockdown_filter(adata, gene_symbol_key="gene_name", **KEYS)
    assert not set(raised) & set(down.obs_names)
    with pytest.raises(ConfigError, match="direction"):
        knockdown_filter(adata, gene_symbol_key="gene_name", direction="sideways", **KEYS)
