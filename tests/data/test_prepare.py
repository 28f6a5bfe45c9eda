"""prepare(): the whole pipeline on simulated data, an authors'-schema fixture and the
real Papalexi screen; cache behaviour; bad input leaves no cache behind."""

from __future__ import annotations

import logging
import time

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from gpo_vae.config import config_from_dict
from gpo_vae.data.prepare import prepare
from gpo_vae.errors import GpoVaeError, InputDataError
from gpo_vae.simulation import simulate_perturbseq


def _config(tmp_path, path, **data):
    settings = {"preset": "simulated", "path": str(path), "doublets": False, **data}
    return config_from_dict({"name": "t", "output_dir": str(tmp_path / "out"), "data": settings})


@pytest.fixture(scope="module")
def small_file(small_screen_path):
    """The small screen (seed 0) on disk, shared with the other tests (read only)."""
    return small_screen_path


@pytest.fixture(scope="module")
def prepared_cells(tmp_path_factory, small_file):
    out = tmp_path_factory.mktemp("prep")
    return prepare(_config(out, small_file))


def test_prepared_layout(prepared_cells):
    a = prepared_cells.adata
    treatments = a.uns["treatments"]
    T = len(treatments)
    assert a.obsm["dosages"].shape == (a.n_obs, T)
    perturbed = treatments[treatments["kind"] == "perturbed"]
    assert len(perturbed) >= 8  # the small preset has 10 targets; small ones may drop
    extra = treatments[treatments["kind"] == "extra"]
    assert len(extra) > 0 and extra["measured"].all()
    dosages = a.obsm["dosages"].toarray()
    assert (dosages[:, treatments["kind"] == "extra"] == 0).all()
    control = (a.obs["perturbation"] == "non-targeting").to_numpy()
    assert (dosages[control] == 0).all() and (dosages[~control].sum(axis=1) == 1).all()
    assert set(a.obs["split"]) == {"train", "val", "test"}
    assert {"qc", "pct_mt", "library_size", "matched_control"} <= set(a.obs.columns)
    assert np.isfinite(a.var["train_log1p_mean"]).all() and (a.var["train_log1p_std"] > 0).all()
    assert "true_grn" in a.uns  # simulated truth travels with the data


def test_controls_are_paired_within_the_split(prepared_cells):
    a = prepared_cells.adata
    matched = a.obs["matched_control"].to_numpy()
    labels = a.obs["perturbation"].to_numpy()
    split = a.obs["split"].astype(str).to_numpy()
    assert (labels[matched] == "non-targeting").all()
    assert (split[matched] == split).all()
    control = labels == "non-targeting"
    assert (matched[control] == np.flatnonzero(control)).all()


def test_counterfactuals_point_at_opposite_qc_groups(prepared_cells):
    a = prepared_cells.adata
    index = a.obs["counterfactual_index"].to_numpy()
    assert (index >= 0).mean() > 0.5
    profiles = np.asarray(a.uns["counterfactual_profiles"])
    assert profiles.shape[1] == a.n_vars and index.max() < profiles.shape[0]
    qc = a.obs["qc"].to_numpy()
    # a good cell's counterfactual is a low-quality profile: fewer counts than the cell's group
    good = (index >= 0) & ~qc
    assert np.median(profiles[index[good]].sum(axis=1)) < np.median(a.obs["library_size"][good])


def test_qc_flags_track_the_simulated_truth(prepared_cells, small_file):
    a = prepared_cells.adata
    truth = ad.read_h5ad(small_file).obs["sim_low_quality"].reindex(a.obs["cell_id"]).to_numpy()
    flagged = a.obs["qc"].to_numpy()
    assert flagged[truth].mean() > 0.8 and flagged[~truth].mean() < 0.15


@pytest.mark.integration   # the whole preparation, written to disk
def test_second_prepare_uses_the_cache(tmp_path, small_file, caplog):
    config = _config(tmp_path, small_file)
    first = prepare(config)
    caplog.set_level(logging.INFO, logger="gpo_vae")
    caplog.clear()
    start = time.perf_counter()
    second = prepare(config)
    messages = caplog.messages
    assert second.from_cache and not first.from_cache
    assert time.perf_counter() - start < 5
    assert "using cached prepared data" in messages[0]
    assert second.path == first.path
    np.testing.assert_array_equal(second.adata.obs["matched_control"],
                                  first.adata.obs["matched_control"])
    changed = prepare(_config(tmp_path, small_file, seed=1))
    assert not changed.from_cache and changed.path != first.path
    # loading-only settings do not invalidate the cache
    assert prepare(_config(tmp_path, small_file, batch_size=64)).from_cache


def test_perturbation_split_keeps_held_out_targets_out_of_training(tmp_path, small_file):
    a = prepare(_config(tmp_path, small_file, split="perturbations")).adata
    frame = a.obs[a.obs["perturbation"] != "non-targeting"]
    held_out = set(frame.loc[frame["split"] == "test", "perturbation"])
    assert held_out
    assert not held_out & set(frame.loc[frame["split"] != "test", "perturbation"])
    treatments = a.uns["treatments"].set_index("name")
    assert (treatments.loc[sorted(held_out), "train_cells"] == 0).all()


@pytest.mark.parametrize("pairing", ["wd", "hungarian"])
def test_other_pairing_methods(tmp_path, small_file, pairing):
    a = prepare(_config(tmp_path, small_file, pairing=pairing)).adata
    matched = a.obs["matched_control"].to_numpy()
    assert (a.obs["perturbation"].to_numpy()[matched] == "non-targeting").all()


def _authors_fixture(tmp_path):
    """A tiny file in the GPO-VAE authors' schema (var indexed by Ensembl id, gene_name
    column, obs gene / gene_id) plus an Adamson-style summary-statistics CSV."""
    sim = simulate_perturbseq("small", seed=5)
    sim.var = sim.var[["gene_name"]].copy()  # index: ENSG ids; symbols in gene_name
    path = tmp_path / "authors.h5ad"
    sim.write_h5ad(path)
    perts = sim.uns["perturbations"]
    weak = perts["gene"].iloc[0]
    # the published Adamson table's columns; knockdown as a fraction, keyed by Ensembl id
    stats = pd.DataFrame({
        "genetic perturbation": perts["gene_id"].to_numpy(),
        "percent knockdown": -0.8,
        "Number of DEGs (anderson-darling)": [10 if g == weak else 200 for g in perts["gene"]],
        "number of cells (filtered)": 100,
    })
    return path, stats, weak


def test_authors_schema_with_summary_stats(tmp_path):
    path, stats, weak = _authors_fixture(tmp_path)
    stats_path = tmp_path / "summary_stats_adamson.csv"
    stats.to_csv(stats_path, index=False)
    config = config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "adamson", "path": str(path), "summary_stats": str(stats_path),
        "doublets": False}})
    a = prepare(config).adata
    labels = set(a.obs["perturbation"])
    assert weak not in labels and len(labels - {"non-targeting"}) >= 5
    assert a.var["gene_symbol"].str.startswith("SG").any()


def test_mismatched_summary_stats_fail_and_leave_no_cache(tmp_path):
    path, stats, _ = _authors_fixture(tmp_path)
    stats["genetic perturbation"] = [f"ENSG0000000{i:04d}" for i in range(len(stats))]
    stats_path = tmp_path / "summary_stats_adamson.csv"
    stats.to_csv(stats_path, index=False)
    config = config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "adamson", "path": str(path), "summary_stats": str(stats_path),
        "doublets": False}})
    with pytest.raises(InputDataError, match="do not match"):
        prepare(config)
    cache = tmp_path / "out" / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_everything_filtered_away(tmp_path, small_file):
    with pytest.raises(InputDataError, match="filtered away"):
        prepare(_config(tmp_path, small_file, min_cells=100_000))
    assert not (tmp_path / "out" / "cache").exists() or \
        not any((tmp_path / "out" / "cache").iterdir())


def test_generic_preset_needs_the_schema(tmp_path, small_file):
    config = config_from_dict({"data": {"preset": "generic", "path": str(small_file)}})
    with pytest.raises(GpoVaeError, match="data.perturbation_key must be set"):
        prepare(config)


def test_combination_screen(tmp_path):
    sim = simulate_perturbseq("small", seed=2)
    genes = sim.uns["perturbations"]["gene"].tolist()
    labels = sim.obs["gene"].astype(str).to_numpy().copy()
    # relabel the cells of two perturbations as a double perturbation A+B
    labels[labels == genes[1]] = f"{genes[0]}+{genes[1]}"
    sim.obs["gene"] = labels
    path = tmp_path / "combo.h5ad"
    sim.write_h5ad(path)
    a = prepare(_config(tmp_path, path, combination_separator="+", knockdown_filter=False)).adata
    names = a.uns["treatments"]["name"].tolist()
    combo = (a.obs["perturbation"] == f"{genes[0]}+{genes[1]}").to_numpy()
    dosages = a.obsm["dosages"].toarray()
    assert (dosages[combo][:, [names.index(genes[0]), names.index(genes[1])]] == 1).all()
    assert (dosages[combo].sum(axis=1) == 2).all()


@pytest.mark.integration
def test_real_papalexi_screen(tmp_path, papalexi_path):
    config = config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "generic", "path": str(papalexi_path), "perturbation_key": "target",
        "control_label": "non-targeting"}})
    result = prepare(config)
    a = result.adata
    assert a.n_obs > 5000 and a.n_vars == 299
    treatments = a.uns["treatments"]
    perturbed = treatments[treatments["kind"] == "perturbed"]
    assert 15 <= len(perturbed) <= 25
    assert perturbed["measured"].sum() >= 5  # 9 of the 25 targets are measured
    # one mitochondrial gene (MT-ATP8) among 299: few cells stand out on it
    assert a.obs["flag_mt"].mean() < 0.1 and a.obs["flag_ribo"].sum() == 0
    assert a.obs["qc"].mean() < 0.3


@pytest.mark.integration   # the whole preparation, written to disk
def test_prepare_names_every_perturbation_a_filter_removes(tmp_path, small_copy, caplog):
    adata = small_copy
    target = adata.uns["perturbations"].query("measured").index[0]
    column = int(np.flatnonzero(adata.var["gene_name"].astype(str).to_numpy() == target)[0])
    cells = np.flatnonzero(adata.obs["gene"].astype(str).to_numpy() == target)
    X = adata.X.tolil()
    for i in cells:
        X[i, column] = 200.0              # an activation screen: the target rises
    adata.X = X.tocsr()
    path = tmp_path / "crispra.h5ad"
    adata.write_h5ad(path)
    caplog.set_level(logging.INFO, logger="gpo_vae")
    kept = prepare(_config(tmp_path, path)).adata
    assert target not in set(kept.obs["perturbation"])
    assert any("knockdown filter removed" in line and target in line
               for line in caplog.messages)
    caplog.clear()
    active = prepare(_config(tmp_path, path, perturbation_type="activation")).adata
    assert target in set(active.obs["perturbation"])
    # the simulated screen's other (CRISPRi) targets fall, so the activation filter names them
    removed = next(line for line in caplog.messages if "knockdown filter removed" in line)
    assert target not in removed and "went up" in removed
