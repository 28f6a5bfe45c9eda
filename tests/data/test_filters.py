"""Strong-perturbation and size filters, and extra DE genes (gpo_vae.data.filters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import mannwhitneyu

from gpo_vae.data.filters import (
    drop_small_perturbations,
    extra_de_genes,
    filter_strong_perturbations,
    load_summary_stats,
    rank_sum_vs_reference,
    strong_mask,
    strong_perturbations,
)
from gpo_vae.data.pseudobulk import log_normalize
from gpo_vae.errors import ConfigError, InputDataError

STATS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "replogle2022_summary_stats"
CONTROL = "non-targeting"
KEYS = {"perturbation_key": "gene", "control_label": CONTROL}


def _needs_stats():
    if not (STATS_DIR / "summary_stats.xlsx").exists():
        pytest.skip(f"real summary statistics not available at {STATS_DIR}")


def _stats_table(genes, ids=None, strong=True):
    """A summary-statistics table in load_summary_stats' normalised columns."""
    n = len(genes)
    table = pd.DataFrame({
        "perturbation": list(genes),
        "n_degs": [200 if strong else 10] * n,
        "knockdown_pct": [-80.0] * n,
        "n_cells_filtered": [100] * n,
    })
    if ids is None:
        table.insert(1, "gene", list(genes))
    else:
        table.insert(1, "gene_id", list(ids))
    return table


# --- summary statistics ----------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, n_rows, n_keys",
    [("adamson", 69, 69), ("replogle_k562", 1092, 1092), ("rpe1", 1564, 1543)],
)
def test_published_rule_keeps_published_counts(preset, n_rows, n_keys):
    _needs_stats()
    stats = load_summary_stats(STATS_DIR, preset)
    assert strong_mask(stats).sum() == n_rows
    # RPE1 has 21 genes with two passing promoter guides: 1,564 rows, 1,543 genes
    assert len(strong_perturbations(stats)) == n_keys
    key = "gene_id" if preset == "adamson" else "gene"
    assert {"gene_id", "n_degs", "knockdown_pct", "n_cells_filtered", key} <= set(stats.columns)


def test_knockdown_is_converted_to_percent():
    _needs_stats()
    stats = load_summary_stats(STATS_DIR / "summary_stats.xlsx", "replogle_k562")
    # the file stores fractions (-0.77) under "percent knockdown"
    assert -100 <= stats["knockdown_pct"].median() < -50
    row = stats.loc[stats["gene"] == "ZC3H18"].iloc[0]
    assert row["gene_id"] == "ENSG00000158545"
    assert row["knockdown_pct"] == pytest.approx(-76.496, abs=1e-2)


def test_summary_stats_errors(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        load_summary_stats(tmp_path / "nope.csv", "adamson")
    bad = tmp_path / "bad.csv"
    bad.write_text("genetic perturbation,percent knockdown\nA,-0.5\n")
    with pytest.raises(InputDataError, match="lack column"):
        load_summary_stats(bad, "adamson")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(InputDataError, match="cannot read"):
        load_summary_stats(broken, "rpe1")
    with pytest.raises(ConfigError):
        load_summary_stats(bad, "norman")


def test_strong_perturbation_filter_by_symbol(small_screen):
    perts = list(small_screen.uns["perturbations"].index)
    stats = pd.concat([_stats_table(perts[:6]), _stats_table(perts[6:8], strong=False)])
    out, report = filter_strong_perturbations(small_screen, stats, **KEYS)
    labels = set(out.obs["gene"].astype(str))
    assert labels == set(perts[:6]) | {CONTROL}
    assert report["n_kept"] == 6 and report["n_matched"] == 8
    assert sorted(report["unmatched"]) == sorted(perts[8:])
    assert sp.issparse(out.X)
    assert (out.obs["gene"] == CONTROL).sum() == (small_screen.obs["gene"] == CONTROL).sum()


def test_strong_perturbation_filter_by_gene_id(small_screen):
    truth = small_screen.uns["perturbations"]
    stats = _stats_table(truth["gene_id"][:4], ids=truth["gene_id"][:4])
    out, _ = filter_strong_perturbations(small_screen, stats, gene_id_key="gene_id", **KEYS)
    assert set(out.obs["gene"].astype(str)) == set(truth.index[:4]) | {CONTROL}
    with pytest.raises(InputDataError, match="gene_id_key"):
        filter_strong_perturbations(small_screen, stats, **KEYS)


def test_mismatched_summary_stats_raise(small_screen):
    stats = _stats_table(["GATA1", "SPI1", "TAL1"])
    with pytest.raises(InputDataError, match="summary statistics do not match the data"):
        filter_strong_perturbations(small_screen, stats, **KEYS)


def test_real_summary_stats_do_not_match_simulated_data(small_screen):
    _needs_stats()
    stats = load_summary_stats(STATS_DIR, "replogle_k562")
    with pytest.raises(InputDataError, match="do not match"):
        filter_strong_perturbations(small_screen, stats, **KEYS)


# --- knockdown filter ------------------------------------------------------------------


def test_drop_small_perturbations(small_screen):
    sizes = small_screen.obs["gene"].value_counts().drop(CONTROL)
    cut = int(sizes.median())
    out, report = drop_small_perturbations(small_screen, min_cells=cut, **KEYS)
    remaining = out.obs["gene"].astype(str).value_counts()
    assert set(report["dropped"]) == set(sizes.index[sizes < cut])
    assert (remaining.drop(CONTROL) >= cut).all()
    assert remaining[CONTROL] == (small_screen.obs["gene"] == CONTROL).sum()
    with pytest.raises(InputDataError, match="every cell was filtered away"):
        drop_small_perturbations(small_screen, min_cells=int(sizes.max()) + 1, **KEYS)


# --- extra DE genes --------------------------------------------------------------------


def test_rank_sum_matches_scipy():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.8, size=(400, 25)) * rng.lognormal(0, 0.3, size=(400, 25))
    counts[:100, :5] *= 4
    X = np.log1p(counts)
    codes = np.repeat([0, 1, 2, -1], 100)
    pvals, lfc, sizes = rank_sum_vs_reference(sp.csr_matrix(X), codes, 3,
                                              sp.csr_matrix(X[300:]), chunk_nnz=2000)
    assert sizes.tolist() == [100, 100, 100]
    for k in range(3):
        expected = mannwhitneyu(X[codes == k], X[300:], method="asymptotic",
                                use_continuity=False, axis=0).pvalue
        np.testing.assert_allclose(pvals[k], expected, rtol=1e-6)
    assert (lfc[0, :5] > 0.5).all() and (lfc[0, :5] > lfc[1, :5]).all()


def test_extra_de_genes_find_true_targets(small_screen):
    lognorm = log_normalize(small_screen, gene_symbol_key="gene_name")
    perturbed = list(small_screen.uns["perturbations"].index)
    genes = extra_de_genes(lognorm, perturbed_genes=perturbed, **KEYS)
    assert genes and not set(genes) & set(perturbed)
    edges = small_screen.uns["true_grn"]
    direct = set(edges.loc[edges["source"].isin(perturbed), "target"])
    candidates = [g for g in lognorm.var_names if g not in perturbed]
    precision = np.mean([g in direct for g in genes])
    chance = np.mean([g in direct for g in candidates])
    assert precision > max(2 * chance, 0.6)
    assert genes == extra_de_genes(lognorm, perturbed_genes=perturbed, **KEYS)
    strict = extra_de_genes(lognorm, perturbed_genes=perturbed, lfc_threshold=3.0, **KEYS)
    assert set(strict) <= set(genes)


def test_subset_cells_keeps_everything_aligned(small_copy):
    from gpo_vae.data.filters import subset_cells

    a = small_copy
    a.layers["counts"] = a.X.copy()
    a.obsm["emb"] = np.arange(a.n_obs * 2).reshape(a.n_obs, 2)
    keep = np.arange(a.n_obs) % 3 != 0
    b = subset_cells(a, keep)
    assert b.n_obs == keep.sum() and list(b.obs_names) == list(a.obs_names[keep])
    assert (b.X != a.X[keep]).nnz == 0 and (b.layers["counts"] != a.X[keep]).nnz == 0
    np.testing.assert_array_equal(b.obsm["emb"], a.obsm["emb"][keep])
    assert "true_grn" in b.uns
    assert subset_cells(a, np.ones(a.n_obs, bool)) is a
