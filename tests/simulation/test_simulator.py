"""The simulator: schema, determinism, and that its biology is what it claims to be."""

from __future__ import annotations

import anndata as ad
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from gpo_vae.errors import ConfigError
from gpo_vae.simulation import PRESETS, SimulationConfig, preset_config, simulate_perturbseq
from gpo_vae.simulation.network import KIND_NO_EFFECT, KIND_UNMEASURED


def _log_normalised(adata):
    X = sp.csr_matrix(adata.X)
    totals = np.asarray(X.sum(axis=1)).ravel()
    return np.log1p(X.multiply(1e4 / totals[:, None]).toarray())


def _mean_lfc(adata):
    """Perturbed-minus-control mean of log-normalised expression, per perturbation."""
    expr = _log_normalised(adata)
    labels = adata.obs["gene"].to_numpy()
    control = expr[labels == "non-targeting"].mean(axis=0)
    return {g: expr[labels == g].mean(axis=0) - control for g in np.unique(labels)
            if g != "non-targeting"}


def test_schema_matches_the_authors_files(small_screen):
    a = small_screen
    assert sp.isspmatrix_csr(a.X) or isinstance(a.X, sp.csr_array)
    assert a.X.dtype == np.float32
    assert np.all(a.X.data == np.round(a.X.data)) and a.X.data.min() >= 0
    for column in ("gene", "gene_id", "guide_id"):
        assert column in a.obs
    controls = a.obs["gene"] == "non-targeting"
    assert controls.sum() > 0
    assert (a.obs.loc[controls, "gene_id"] == "non-targeting").all()
    assert a.obs.loc[~controls, "gene_id"].str.startswith("ENSG").all()
    assert {"gene_name", "gene_id"} <= set(a.var.columns)
    symbols = a.var["gene_name"].astype(str)
    assert symbols.is_unique and a.var_names.is_unique
    assert symbols.str.startswith("MT-").sum() >= 10
    assert symbols.str.match(r"^RP[SL]").sum() >= 4
    assert symbols.str.match(r"^HB[ABDEGMQZ]").sum() >= 2


def test_truth_is_stored_and_consistent(small_screen):
    a = small_screen
    edges = a.uns["true_grn"]
    assert {"source", "target", "sign", "weight"} <= set(edges.columns)
    assert set(edges["sign"]) == {-1, 1}, "both activating and repressing edges"
    assert (edges["weight"] > 0).all()
    perts = a.uns["perturbations"]["gene"].tolist()
    block = a.uns["true_grn_perturbed"]
    assert list(block.index) == perts and list(block.columns) == perts
    among = edges[edges["source"].isin(perts) & edges["target"].isin(perts)]
    assert (block.to_numpy() != 0).sum() == len(among) > 0
    for row in among.itertuples():
        assert block.loc[row.source, row.target] == pytest.approx(row.sign * row.weight)
    assert a.uns["simulation"]["seed"] == 0
    assert a.uns["simulation"]["n_cells"] == a.n_obs


def test_network_is_mostly_acyclic_with_feedback(small_screen):
    edges = small_screen.uns["true_grn"]
    graph = nx.from_pandas_edgelist(edges, "source", "target", create_using=nx.DiGraph)
    assert not nx.is_directed_acyclic_graph(graph)
    forward = edges[~edges["feedback"]]
    assert nx.is_directed_acyclic_graph(
        nx.from_pandas_edgelist(forward, "source", "target", create_using=nx.DiGraph))
    assert 0 < edges["feedback"].sum() <= 0.1 * len(edges)


def test_some_targets_unmeasured_or_without_effect(small_screen):
    perts = small_screen.uns["perturbations"]
    symbols = set(small_screen.var["gene_name"])
    unmeasured = perts[perts["kind"] == KIND_UNMEASURED]
    no_effect = perts[perts["kind"] == KIND_NO_EFFECT]
    assert len(unmeasured) >= 1 and not set(unmeasured["gene"]) & symbols
    assert len(no_effect) >= 1 and (no_effect["n_direct_targets"] == 0).all()
    assert set(no_effect["gene"]) <= symbols
    others = perts[perts["kind"] == "regulator"]
    assert (others["n_direct_targets"] >= 2).all()


def test_guides_have_knockdown_efficiencies_in_range(small_screen):
    guides = small_screen.uns["guides"]
    targeting = guides[guides["gene"] != "non-targeting"]
    assert targeting["efficiency"].between(0.6, 0.95).all()
    assert (targeting.groupby("gene").size() == PRESETS["small"].guides_per_perturbation).all()
    obs = small_screen.obs
    assert set(obs["guide_id"]) <= set(guides["guide_id"])


def test_same_seed_same_data_other_seed_other_data():
    a = simulate_perturbseq("small", seed=3)
    b = simulate_perturbseq("small", seed=3)
    c = simulate_perturbseq("small", seed=4)
    assert (a.X != b.X).nnz == 0
    assert a.obs.equals(b.obs)
    assert a.uns["true_grn"].equals(b.uns["true_grn"])
    assert a.X.shape == c.X.shape and (a.X != c.X).nnz > 0


def test_knockdown_lowers_the_target(small_screen):
    a = small_screen
    expr = _log_normalised(a)
    symbols = list(a.var["gene_name"])
    labels = a.obs["gene"].to_numpy()
    control = labels == "non-targeting"
    measured = [g for g in a.uns["perturbations"]["gene"] if g in symbols]
    assert len(measured) >= 5
    for gene in measured:
        j = symbols.index(gene)
        counts = np.expm1(expr[:, j])
        ratio = counts[labels == gene].mean() / counts[control].mean()
        assert ratio < 0.6, f"{gene}: knockdown to {ratio:.2f} of control"


def test_perturbations_shift_direct_targets_more_than_unreached_genes():
    """Over several perturbations, direct targets move far more than genes the network
    does not connect to the perturbed gene (whose shifts are sampling noise)."""
    a = simulate_perturbseq("default", seed=1,
                            config=preset_config("default").with_overrides(n_cells=4000,
                                                                           n_genes=600,
                                                                           n_perturbations=20,
                                                                           n_extra_regulators=15))
    lfc = _mean_lfc(a)
    symbols = list(a.var["gene_name"])
    edges = a.uns["true_grn"]
    graph = nx.from_pandas_edgelist(edges, "source", "target", create_using=nx.DiGraph)
    ratios = []
    for gene in a.uns["perturbations"]["gene"]:
        direct = [symbols.index(t) for t in edges.loc[edges["source"] == gene, "target"]
                  if t in symbols]
        if len(direct) < 3:
            continue
        reached = nx.descendants(graph, gene) | {gene}
        unreached = [j for j, s in enumerate(symbols) if s not in reached]
        shift = np.abs(lfc[gene])
        ratios.append(shift[direct].mean() / shift[unreached].mean())
    assert len(ratios) >= 8
    assert np.median(ratios) > 3
    assert np.mean(np.array(ratios) > 1.5) >= 0.8


def test_qc_failing_cells_are_detectable(small_screen):
    a = small_screen
    totals = np.asarray(a.X.sum(axis=1)).ravel()
    mito = a.var["gene_name"].str.startswith("MT-").to_numpy()
    frac = np.asarray(a.X[:, mito].sum(axis=1)).ravel() / totals
    low = a.obs["sim_low_quality"].to_numpy()
    assert 0.03 < low.mean() < 0.15
    # a plain median + 3 MAD rule on the mitochondrial fraction finds them
    med = np.median(frac)
    mad = np.median(np.abs(frac - med))
    flagged = frac > med + 3 * 1.4826 * mad
    assert flagged[low].mean() > 0.9
    assert flagged[~low].mean() < 0.05
    assert np.median(totals[low]) < 0.5 * np.median(totals[~low])


def test_doublets_have_more_counts(small_screen):
    a = small_screen
    totals = np.asarray(a.X.sum(axis=1)).ravel()
    dbl = a.obs["sim_doublet"].to_numpy()
    good = ~dbl & ~a.obs["sim_low_quality"].to_numpy()
    assert dbl.sum() > 0 and np.median(totals[dbl]) > 1.4 * np.median(totals[good])


def test_presets_have_the_documented_sizes():
    small, default, large = (PRESETS[k] for k in ("small", "default", "large"))
    assert 1000 <= small.n_cells <= 2000 and small.n_genes == 200 and small.n_perturbations == 10
    assert 8000 <= default.n_cells <= 12000 and 1000 <= default.n_genes <= 2000
    assert default.n_perturbations == 50
    assert large.n_cells >= 120_000 and large.n_genes == 8000 and large.n_perturbations == 600
    xlarge = PRESETS["xlarge"]
    assert xlarge.n_cells == 1_000_000 and xlarge.n_genes == 8000


def test_default_preset_builds(tmp_path):
    a = simulate_perturbseq("default", seed=0)
    assert a.shape == (PRESETS["default"].n_cells, PRESETS["default"].n_genes)
    assert len(a.uns["perturbations"]) == 50
    path = tmp_path / "default.h5ad"
    a.write_h5ad(path)
    import anndata as ad

    back = ad.read_h5ad(path)
    assert back.uns["true_grn"].equals(a.uns["true_grn"])
    assert back.uns["true_grn_perturbed"].equals(a.uns["true_grn_perturbed"])


def test_bad_settings_are_rejected():
    from gpo_vae.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown simulation setting"):
        preset_config("small").with_overrides(n_cellz=10)
    with pytest.raises(ConfigError, match="unknown simulation preset"):
        preset_config("huge")
    with pytest.raises(ConfigError, match="out of range"):
        SimulationConfig(knockdown_min=0.9, knockdown_max=0.5)


@pytest.mark.slow
def test_large_preset_builds():
    a = simulate_perturbseq("large", seed=0)
    assert a.shape == (PRESETS["large"].n_cells, PRESETS["large"].n_genes)
    assert len(a.uns["perturbations"]) == 600


def _combination_screen():
    config = SimulationConfig(n_cells=2_000, n_genes=200, n_perturbations=8,
                              n_extra_regulators=8, double_fraction=0.4, n_double_pairs=6,
                              low_quality_fraction=0.0, doublet_fraction=0.0)
    return simulate_perturbseq(config=config, seed=3)


def test_doubles_knock_down_both_genes_and_carry_their_interaction_truth():
    screen = _combination_screen()
    labels = screen.obs["gene"].astype(str)
    doubles = labels[labels.str.contains("+", regex=False)]
    assert doubles.nunique() == 6 and len(doubles) == 800
    truth = screen.uns["combinations"]
    assert sorted(truth.index) == sorted(doubles.unique())
    assert (truth["n_cells"].to_numpy() == doubles.value_counts()[truth.index].to_numpy()).all()
    assert (truth["interaction_relative"] >= 0).all()
    symbols = screen.var["gene_name"].astype(str).tolist()
    counts = screen.X.toarray()
    norm = counts / counts.sum(1, keepdims=True)
    control = (labels == "non-targeting").to_numpy()
    for label in truth.index:
        cells = (labels == label).to_numpy()
        for gene in label.split("+"):
            if gene in symbols:                                   # unmeasured genes exist
                column = symbols.index(gene)
                assert norm[cells, column].mean() < 0.6 * norm[control, column].mean()
    # the single-target counts include the doubles
    per_gene = screen.uns["perturbations"]["n_cells"]
    first = truth.index[0].split("+")[0]
    assert per_gene[first] == (labels == first).sum() + truth.loc[
        truth["gene_a"].eq(first) | truth["gene_b"].eq(first), "n_cells"].sum()


def test_doubles_prepare_as_two_dosages():
    import gpo_vae as gv

    prepared = gv.prepare(_combination_screen(), preset="simulated", knockdown_filter=False)
    labels = prepared.obs["perturbation"].astype(str).to_numpy()
    dosages = prepared.obsm["dosages"]
    double = np.char.find(labels.astype(str), "+") >= 0
    assert double.any()
    assert (np.asarray(dosages[double].sum(1)).ravel() == 2).all()
    assert (np.asarray(dosages[~double & (labels != "non-targeting")].sum(1)).ravel() == 1).all()


def test_simulate_to_h5ad_writes_the_same_screen_in_blocks(tmp_path):
    from gpo_vae.simulation import preset_config, simulate_to_h5ad

    config = preset_config("small").with_overrides(chunk_entries=30_000)  # ~150 cells/block
    in_memory = simulate_perturbseq(config=config, seed=4)
    path = simulate_to_h5ad(tmp_path / "screen.h5ad", config=config, seed=4)
    on_disk = ad.read_h5ad(path)
    assert abs(on_disk.X - in_memory.X).max() == 0 and on_disk.X.indptr.dtype == np.int64
    assert on_disk.obs.astype(str).equals(in_memory.obs.astype(str))
    assert sorted(on_disk.uns) == sorted(in_memory.uns)
    assert [p.name for p in tmp_path.iterdir()] == ["screen.h5ad"]  # no temporaries left


def test_pair_only_genes_are_never_perturbed_alone():
    config = SimulationConfig(n_cells=2_000, n_genes=200, n_perturbations=8,
                              n_extra_regulators=8, double_fraction=0.4, n_double_pairs=6,
                              pair_only_fraction=0.3, low_quality_fraction=0.0,
                              doublet_fraction=0.0)
    screen = simulate_perturbseq(config=config, seed=3)
    labels = screen.obs["gene"].astype(str)
    doubles = labels[labels.str.contains("+", regex=False)].unique()
    in_pairs = {g for label in doubles for g in label.split("+")}
    alone = set(labels.unique())
    pair_only = in_pairs - alone
    assert len(pair_only) == round(0.3 * len(in_pairs))
    # every cell of a pair-only gene is in a double of a listed pair
    assert len(set(screen.uns["combinations"].index)) == len(doubles)
    with pytest.raises(ConfigError, match="pair_only_fraction"):
        SimulationConfig(pair_only_fraction=0.2)                # no doubles to keep them in


def test_combinations_preset_has_at_least_60_doubles_and_a_partial_design():
    cfg = PRESETS["combinations"]
    assert cfg.n_double_pairs >= 60 and cfg.pair_only_fraction > 0
