"""Design targets from held-out cells, AnnData profiles, gene sets and LFC tables, and
the one-line errors of bad targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpo_vae.design import (
    DesignTarget,
    TargetOptions,
    resolve_target,
    target_from_cells,
    target_from_gene_set,
    target_from_perturbation,
)
from gpo_vae.design.targets import as_target, welch_t
from gpo_vae.errors import InputDataError, InputFileError

GENES = ["A", "B", "C", "D"]


def test_a_gene_set_is_signed_and_spares_the_other_genes_when_asked():
    assert target_from_gene_set(["A"], ["C"], GENES, strength=0.5).values.to_dict() == \
        {"A": 0.5, "C": -0.5}
    target = target_from_gene_set(["A"], ["C"], GENES, strength=0.5, spare_others=True)
    assert target.values.to_dict() == {"A": 0.5, "B": 0.0, "C": -0.5, "D": 0.0}
    index, values = target.aligned(["D", "C", "B", "A"])
    assert index.tolist() == [3, 2, 1, 0] and values.tolist() == [0.5, 0.0, -0.5, 0.0]


def test_a_gene_set_leaves_out_the_perturbable_genes_it_does_not_list():
    target = target_from_gene_set(["A"], ["C"], GENES, spare_others=True,
                                  treatments=["C", "D"])
    assert target.values.to_dict() == {"A": 1.0, "B": 0.0, "C": -1.0}


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")   # scipy, constant gene
def test_welch_t_is_scipys_on_sparse_and_dense_cells():
    import scipy.sparse as sp
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(0)
    cells = rng.poisson(1.0, (12, 5)).astype(float)
    control = rng.poisson(1.5, (30, 5)).astype(float)
    cells[:, 4] = control[:, 4] = 2.0                         # constant gene: t = 0
    expected = np.nan_to_num(ttest_ind(cells, control, equal_var=False).statistic)
    assert np.allclose(welch_t(cells, control), expected)
    assert np.allclose(welch_t(sp.csr_matrix(cells), sp.csr_matrix(control)), expected)


def test_an_observed_target_keeps_the_genes_its_cells_change_most(small_prepared):
    treatments = small_prepared.uns["treatments"]
    name = treatments["name"][treatments["kind"] == "perturbed"].iloc[0]
    every = target_from_perturbation(small_prepared, name, top_genes=0).values
    top = target_from_perturbation(small_prepared, name, top_genes=10).values
    assert top.size == 10 and set(top.index) <= set(every.index)
    assert np.allclose(top, every[top.index])                # same values, fewer genes
    assert name in top.index                                 # the knocked-down gene itself
    assert list(top.index) == [g for g in every.index if g in set(top.index)]   # gene order


def test_genes_the_model_does_not_know_are_a_one_line_error():
    for spare in (False, True):
        with pytest.raises(InputDataError, match="1 gene.*'ZZZ'"):
            target_from_gene_set(["A", "ZZZ"], [], GENES, spare_others=spare).aligned(GENES)
    target = target_from_gene_set(["A", "ZZZ"], [], GENES)
    with pytest.raises(InputDataError, match="1 gene.*'ZZZ'") as caught:
        target.aligned(GENES)
    assert "\n" not in str(caught.value)
    lfc = DesignTarget(pd.Series({"A": 1.0, "Q1": 2.0, "Q2": 1.0}), "lfc", "lfc")
    with pytest.raises(InputDataError, match="2 gene"):
        lfc.aligned(GENES)


@pytest.mark.parametrize(("values", "message"), [
    ({"A": np.nan}, "missing or infinite"), ({"A": 0.0, "B": 0.0}, "no change at all")])
def test_empty_or_broken_values_are_refused(values, message):
    with pytest.raises(InputDataError, match=message):
        DesignTarget(pd.Series(values, dtype=float), "x", "lfc").aligned(GENES)


def test_a_gene_listed_up_and_down_is_refused():
    with pytest.raises(InputDataError, match="both up and down"):
        target_from_gene_set(["A"], ["A"], GENES)


def test_tables_give_gene_sets_or_lfcs(tmp_path):
    sets = tmp_path / "set.csv"
    sets.write_text("gene,direction\nA,up\nB,down\n")
    assert resolve_target(str(sets), None, GENES).values["B"] == -1.0
    lfc = tmp_path / "lfc.tsv"
    lfc.write_text("gene\tlfc\nA\t0.7\nD\t-1.2\n")
    assert resolve_target(str(lfc), None, GENES).values.to_dict() == {"A": 0.7, "D": -1.2}
    bad = tmp_path / "bad.csv"
    bad.write_text("gene,score\nA,1\n")
    with pytest.raises(InputFileError, match="'direction'.*'lfc'"):
        resolve_target(str(bad), None, GENES)
    sideways = tmp_path / "sideways.csv"
    sideways.write_text("gene,direction\nA,sideways\n")
    with pytest.raises(InputFileError, match="'sideways'.*not up or down"):
        resolve_target(str(sideways), None, GENES)
    with pytest.raises(InputFileError, match="neither perturbation:NAME nor an existing"):
        resolve_target(str(tmp_path / "missing.csv"), None, GENES)


def test_a_perturbation_target_uses_its_held_out_cells_only(small_prepared):
    genes = small_prepared.var["gene_symbol"].astype(str).tolist()
    treatments = small_prepared.uns["treatments"]
    names = treatments["name"][treatments["kind"] == "perturbed"].tolist()
    test = {n: target_from_perturbation(small_prepared, n, top_genes=0).values for n in names}
    train = {n: target_from_perturbation(small_prepared, n, split="train", top_genes=0).values
             for n in names}
    assert list(test[names[0]].index) == genes
    assert not np.allclose(test[names[0]], train[names[0]])      # different cells
    r = np.corrcoef([*test.values(), *train.values()])[:len(names), len(names):]
    assert np.diag(r).mean() > r[~np.eye(len(names), dtype=bool)].mean() + 0.2   # same effect
    with pytest.raises(InputDataError, match="no test cells of perturbation 'NOPE'"):
        target_from_perturbation(small_prepared, "NOPE")


def test_cells_to_reach_are_compared_with_the_control_cells(small_prepared):
    import anndata as ad

    name = small_prepared.uns["treatments"]["name"].iloc[0]
    labels = small_prepared.obs["perturbation"].astype(str)
    cells = small_prepared[(labels == name).to_numpy()
                           & (small_prepared.obs["split"] == "test").to_numpy()]
    reach = ad.AnnData(X=cells.X.copy(), var=pd.DataFrame(
        index=cells.var["gene_symbol"].astype(str).to_numpy()))
    from_cells = target_from_cells(reach, small_prepared)
    observed = target_from_perturbation(small_prepared, name)
    assert np.corrcoef(from_cells.values, observed.values[from_cells.values.index])[0, 1] > 0.9
    unrelated = ad.AnnData(X=np.ones((3, 2)), var=pd.DataFrame(index=["X1", "X2"]))
    with pytest.raises(InputDataError, match="share no gene"):
        target_from_cells(unrelated, small_prepared)


def test_log_normalised_cells_give_the_target_of_their_counts(small_prepared):
    """What gpo-vae writes for cell-eval (observed_<split>.h5ad, predictions.h5ad) is
    log1p-normalised; it used to be read as counts and give another target."""
    import anndata as ad

    from gpo_vae.evaluation.report import cell_eval_anndata

    genes = small_prepared.var["gene_symbol"].astype(str).tolist()
    name = small_prepared.uns["treatments"]["name"].iloc[0]
    rows = ((small_prepared.obs["perturbation"].astype(str) == name).to_numpy()
            & (small_prepared.obs["split"] == "test").to_numpy())
    counts = ad.AnnData(X=small_prepared.X[rows].copy(), var=pd.DataFrame(index=genes))
    logged = cell_eval_anndata(small_prepared.X[rows], np.repeat(name, rows.sum()), genes,
                               "observed")
    for top_genes in (0, 20):
        expected = target_from_cells(counts, small_prepared, top_genes=top_genes).values
        got = target_from_cells(logged, small_prepared, top_genes=top_genes).values
        assert got.index.tolist() == expected.index.tolist()
        np.testing.assert_allclose(got, expected, atol=1e-4)
    dense = ad.AnnData(X=logged.to_df().to_numpy(), var=logged.var)
    np.testing.assert_allclose(target_from_cells(dense, small_prepared, top_genes=0).values,
                               target_from_cells(counts, small_prepared, top_genes=0).values,
                               atol=1e-4)


@pytest.mark.parametrize("values", [
    lambda rng, shape: rng.normal(size=shape),                       # z-scored: negatives
    lambda rng, shape: rng.uniform(0, 3, size=shape),                # no common total
    lambda rng, shape: np.full(shape, np.nan),
])
def test_cells_that_are_neither_counts_nor_log_normalised_are_refused(small_prepared, values):
    import anndata as ad

    genes = small_prepared.var["gene_symbol"].astype(str).tolist()
    cells = ad.AnnData(X=values(np.random.default_rng(0), (5, len(genes))),
                       var=pd.DataFrame(index=genes))
    with pytest.raises(InputDataError, match="^the target cells' X holds neither raw counts"):
        target_from_cells(cells, small_prepared)
    cells.layers["counts"] = cells.X.copy()
    with pytest.raises(InputDataError, match="^the target cells' layers\\['counts'\\] holds"):
        target_from_cells(cells, small_prepared)


def test_any_target_form_is_accepted_or_refused_clearly():
    assert as_target({"up": ["A"]}, GENES).kind == "gene_set"
    spared = as_target({"up": ["A"]}, GENES, options=TargetOptions(spare_others=True))
    assert spared.values.size == len(GENES)
    assert as_target(pd.Series({"A": 1.0}), GENES).kind == "lfc"
    with pytest.raises(InputDataError, match="keys 'up' and 'down'"):
        as_target({"raise": ["A"]}, GENES)
    with pytest.raises(InputDataError, match="cannot use a int"):
        as_target(3, GENES)
