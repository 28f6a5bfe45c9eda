"""QC metrics, MAD flags, scrublet doublets and backend selection (gpo_vae.data.qc)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from gpo_vae.data import qc
from gpo_vae.data.qc import QC_COLUMNS, annotate_qc, mad_outlier, select_backend
from gpo_vae.errors import ConfigError, InputDataError


@pytest.fixture(scope="module")
def small_qc(small_screen):
    return annotate_qc(small_screen, gene_symbol_key="gene_name", backend="cpu")


def test_columns_index_and_types(small_screen, small_qc):
    assert list(small_qc.columns) == QC_COLUMNS
    assert small_qc.index.equals(small_screen.obs_names)
    assert small_qc["qc"].dtype == bool and small_qc["predicted_doublet"].dtype == bool
    assert not small_qc.isna().any().any()
    totals = np.asarray(small_screen.X.sum(axis=1)).ravel()
    np.testing.assert_allclose(small_qc["total_counts"], totals)
    assert (small_qc["pct_mt"] > 0).all()  # the simulator has MT- genes
    flags = small_qc.filter(like="flag_").any(axis=1) | small_qc["predicted_doublet"]
    assert (small_qc["qc"] == flags).all()


def test_flags_catch_low_quality_cells_with_few_false_positives(small_screen, small_qc):
    low = small_screen.obs["sim_low_quality"].to_numpy()
    clean = ~low & ~small_screen.obs["sim_doublet"].to_numpy()
    flagged = small_qc["qc"].to_numpy()
    assert low.sum() > 50
    assert flagged[low].mean() > 0.9
    assert flagged[clean].mean() < 0.1
    # the mitochondrial flag alone is what marks damaged cells in this simulator
    assert small_qc["flag_mt"].to_numpy()[low].mean() > 0.9


def test_doublet_scores_are_higher_for_simulated_doublets(small_screen, small_qc):
    doublet = small_screen.obs["sim_doublet"].to_numpy()
    score = small_qc["doublet_score"].to_numpy()
    assert score[doublet].mean() > score[~doublet].mean()


def test_doublets_run_in_batches_above_max_cells(small_screen):
    out = annotate_qc(small_screen, gene_symbol_key="gene_name", backend="cpu",
                      doublet_max_cells=600)  # 3 batches of 500
    assert not out["doublet_score"].isna().any()
    assert (out["doublet_score"] > 0).mean() > 0.9


def test_tiny_data_skips_scrublet_without_crashing(small_screen):
    tiny = small_screen[:60].copy()
    with pytest.warns(UserWarning, match="skipping doublet detection"):
        out = annotate_qc(tiny, gene_symbol_key="gene_name", backend="cpu")
    assert not out["predicted_doublet"].any()


def test_no_mitochondrial_genes_flags_nothing_for_mt(small_screen):
    symbols = small_screen.var["gene_name"].astype(str)
    no_mt = small_screen[:, ~symbols.str.upper().str.startswith("MT-")].copy()
    out = annotate_qc(no_mt, gene_symbol_key="gene_name", doublets=False, backend="cpu")
    assert (out["pct_mt"] == 0).all()
    assert not out["flag_mt"].any()
    assert out["qc"].mean() < 0.3


def test_counts_layer_and_lowercase_symbols(small_screen, small_qc):
    adata = small_screen.copy()
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X * 0.5  # not counts: must be ignored
    adata.var["gene_name"] = adata.var["gene_name"].str.lower()
    out = annotate_qc(adata, counts_layer="counts", gene_symbol_key="gene_name",
                      doublets=False, backend="cpu")
    np.testing.assert_allclose(out["pct_mt"], small_qc["pct_mt"])
    np.testing.assert_allclose(out["pct_hb"], small_qc["pct_hb"])
    with pytest.raises(InputDataError):
        annotate_qc(adata, counts_layer="missing", doublets=False)


def test_hemoglobin_pattern_excludes_hbp_and_hbs():
    import re

    pattern = re.compile(qc.GENE_GROUP_PATTERNS["hb"])
    assert all(pattern.match(s) for s in ["HBA1", "HBB", "HBZ", "HBQ1"])
    assert not any(pattern.match(s) for s in ["HBP1", "HBS1L"])


def test_mad_outlier_edge_cases():
    assert not mad_outlier(np.zeros(100), 3, "high").any()
    assert not mad_outlier(np.full(100, 5.0), 3, "low").any()
    x = np.r_[np.zeros(97), 1.0, 2.0, 50.0]  # MAD 0: falls back to mean deviation
    flagged = mad_outlier(x, 3, "high")
    assert flagged[-1] and flagged.sum() < 3
    rng = np.random.default_rng(0)
    y = np.r_[rng.normal(10, 1, 1000), [1.0, 2.0]]
    low = mad_outlier(y, 3, "low")
    assert low[-2:].all() and low.sum() < 10
    with pytest.raises(ConfigError):
        annotate_qc(types.SimpleNamespace(), qc_threshold=0)


def test_backend_selection(monkeypatch):
    monkeypatch.setattr(qc, "_gpu_available", lambda: False)
    assert select_backend("auto") == "cpu"
    assert select_backend("cpu") == "cpu"
    with pytest.raises(ConfigError, match="rapids-singlecell"):
        select_backend("gpu")
    with pytest.raises(ConfigError, match="unknown QC backend"):
        select_backend("tpu")
    monkeypatch.setattr(qc, "_gpu_available", lambda: True)
    assert select_backend("auto") == "gpu"
    assert select_backend("gpu") == "gpu"
    assert select_backend("cpu") == "cpu"


def test_gpu_detection_needs_rapids_and_cuda(monkeypatch):
    import torch

    real_import = qc.importlib.import_module

    def fake_import(name, *args):
        if name == "rapids_singlecell":
            return types.ModuleType(name)
        return real_import(name, *args)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not qc._gpu_available()  # rapids-singlecell is not installed here
    monkeypatch.setattr(qc.importlib, "import_module", fake_import)
    assert not qc._gpu_available()  # imports, but no GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert qc._gpu_available()


def test_real_papalexi_without_mt_genes(papalexi_path):
    import anndata as ad

    adata = ad.read_h5ad(papalexi_path)
    adata = adata[np.random.default_rng(0).choice(adata.n_obs, 3000, replace=False)].copy()
    # 298 of its 299 genes are not mitochondrial (MT-ATP8 is there); no ribosomal genes
    out = annotate_qc(adata, backend="cpu")
    assert (out["pct_ribo"] == 0).all() and not out["flag_ribo"].any()
    assert out["flag_mt"].mean() < 0.1
    no_mt = adata[:, ~adata.var_names.str.upper().str.startswith("MT-")].copy()
    out = annotate_qc(no_mt, backend="cpu", doublets=False)
    assert (out["pct_mt"] == 0).all() and not out["flag_mt"].any()
    assert out["qc"].mean() < 0.25
    assert out["doublet_score"].notna().all()


def test_metrics_match_scanpy(small_screen):
    """The blockwise metrics equal scanpy's calculate_qc_metrics."""
    import scanpy as sc

    a = small_screen.copy()
    a.var_names = a.var["gene_name"].astype(str).to_numpy()
    ours = qc._metrics(a.X, a.var_names, "cpu", block=300)
    a.var["mt"] = a.var_names.str.startswith("MT-")
    a.var["ribo"] = a.var_names.str.match(r"^RP[SL]")
    a.var["hb"] = a.var_names.str.match(r"^HB(?!P|S)")
    theirs, _ = sc.pp.calculate_qc_metrics(a, qc_vars=["mt", "ribo", "hb"], percent_top=None,
                                           log1p=False, inplace=False)
    np.testing.assert_allclose(ours["total_counts"], theirs["total_counts"])
    np.testing.assert_array_equal(ours["n_genes"], theirs["n_genes_by_counts"])
    for group in ("mt", "ribo", "hb"):
        np.testing.assert_allclose(ours[f"pct_{group}"], theirs[f"pct_counts_{group}"], rtol=1e-5)
