"""Statistical GRN evaluation (CausalBench definition): hand-checked numbers, a planted
network, edge selection, untestable edges, sparse/dense agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import mannwhitneyu, norm, wasserstein_distance

from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.evaluation.grn_statistical import (
    statistical_edge_metrics,
    statistical_grn_report,
    threshold_edges,
    top_k_edges,
)
from gpo_vae.stats import mann_whitney_presorted, rank_sum_tie_terms, wasserstein_columns

KEYS = {"n_edges", "n_evaluated", "n_testable", "n_true_positives", "precision",
        "mean_wasserstein", "false_omission_rate", "n_non_edges_sampled", "base_rate"}


def _edges(*pairs) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["source", "target"])


# ---------------------------------------------------------------- hand-checked numbers


@pytest.fixture()
def tiny():
    """4 control cells, 4 cells each perturbing A and B; genes A, B, C, D.

    Gene B: control 1 2 3 4, A-perturbed 5 6 7 8 -> exact two-sided Mann-Whitney
    p = 2 / C(8, 4) = 2/70 (the most extreme of 70 equally likely splits, both tails);
    Wasserstein distance 4 (every quantile moves by 4).
    Gene C: identical in control and A cells -> p = 1, distance 0.
    """
    genes = ["A", "B", "C", "D"]
    labels = np.array(["NT"] * 4 + ["A"] * 4 + ["B"] * 4)
    x = np.zeros((12, 4))
    x[:4, 1] = [1, 2, 3, 4]
    x[4:8, 1] = [8, 6, 5, 7]
    x[:4, 2] = [1, 2, 3, 4]
    x[4:8, 2] = [4, 3, 2, 1]
    x[8:, :] = [[1, 1, 1, 1]] * 4
    return x, genes, labels


def test_hand_checked_p_value_and_wasserstein(tiny):
    x, genes, labels = tiny
    kwargs = dict(candidate_genes=genes, min_cells=4)
    just_significant = statistical_edge_metrics(_edges(("A", "B")), x, genes, labels, "NT",
                                                alpha=0.029, **kwargs)  # 2/70 = 0.02857
    assert just_significant["n_true_positives"] == 1
    assert just_significant["precision"] == 1.0
    assert just_significant["mean_wasserstein"] == pytest.approx(4.0)
    just_not = statistical_edge_metrics(_edges(("A", "B")), x, genes, labels, "NT",
                                        alpha=0.028, **kwargs)
    assert just_not["n_true_positives"] == 0 and just_not["precision"] == 0.0

    both = statistical_edge_metrics(_edges(("A", "B"), ("A", "C")), x, genes, labels, "NT",
                                    alpha=0.05, **kwargs)
    assert both["n_testable"] == 2 and both["n_true_positives"] == 1
    assert both["precision"] == 0.5
    assert both["mean_wasserstein"] == pytest.approx((4.0 + 0.0) / 2)
    assert KEYS <= set(both)


def test_tied_small_samples_by_hand():
    # perturbed [0, 2] vs control [0, 0, 1]:
    # Wasserstein: |F_p - F_c| = 1/6 on [0, 1) and 1/2 on [1, 2) -> 2/3.
    # U1 = (0 + 0.5*2) + 3 = 4, U = max(4, 6 - 4) = 4, mu = 3; one run of three tied
    # zeros: tie term 3^3 - 3 = 24; sd = sqrt(2*3/12 * (6 - 24/20)) = sqrt(2.4);
    # z = (4 - 3 - 0.5) / sqrt(2.4); p = 2 * sf(z).
    perturbed = np.array([[0.0], [2.0]])
    control = np.array([[0.0], [0.0], [1.0]])
    assert wasserstein_columns(perturbed, control, presorted=True)[0] == pytest.approx(2 / 3)
    p = mann_whitney_presorted(perturbed, control, rank_sum_tie_terms(control))[0]
    assert p == pytest.approx(2 * norm.sf(0.5 / np.sqrt(2.4)))
    assert p == pytest.approx(mannwhitneyu([0, 2], [0, 0, 1]).pvalue)


def test_column_statistics_match_scipy_one_column_at_a_time():
    rng = np.random.default_rng(3)
    for trial in range(60):
        n1, n2, k = int(rng.integers(1, 25)), int(rng.integers(1, 50)), 3
        if trial % 3 == 0:  # continuous: exact regime for small samples
            a, b = rng.normal(size=(n1, k)), rng.normal(0.7, 1, size=(n2, k))
        elif trial % 3 == 1:  # heavy ties, like log-normalised counts
            a = np.log1p(rng.poisson(1.0, (n1, k))).astype(np.float32)
            b = np.log1p(rng.poisson(0.5, (n2, k))).astype(np.float32)
        else:  # a constant column (p undefined in theory; scipy says 1)
            a, b = np.zeros((n1, k)), np.zeros((n2, k))
            b[: n2 // 2, 0] = 1
        a_sorted, b_sorted = np.sort(a, axis=0), np.sort(b, axis=0)
        p = mann_whitney_presorted(a_sorted, b_sorted, rank_sum_tie_terms(b_sorted))
        w = wasserstein_columns(a_sorted, b_sorted, presorted=True)
        for j in range(k):
            expected = mannwhitneyu(a[:, j], b[:, j], alternative="two-sided").pvalue
            expected = expected if np.isfinite(expected) else 1.0
            assert p[j] == pytest.approx(expected, abs=1e-6)
            assert w[j] == pytest.approx(wasserstein_distance(a[:, j], b[:, j]), abs=1e-6)


# ---------------------------------------------------------------- planted network

PLANTED = [("G0", "G1"), ("G0", "G2"), ("G3", "G4"), ("G5", "G6"), ("G7", "G8"),
           ("G9", "G10"), ("G11", "G0")]


def _planted(counts: bool = False, seed: int = 0):
    """12 perturbed genes (+2 unperturbed measured genes), 150 control cells, 30 cells per
    perturbation; perturbing a shifts b strongly only for the planted edges a -> b."""
    rng = np.random.default_rng(seed)
    perturbed = [f"G{i}" for i in range(12)]
    genes = perturbed + ["X0", "X1"]
    labels = np.array(["non-targeting"] * 150 + [g for g in perturbed for _ in range(30)])
    if counts:
        x = rng.poisson(1.0, (len(labels), len(genes))).astype(np.float64)
    else:
        x = rng.normal(2.0, 0.5, (len(labels), len(genes)))
    for a, b in PLANTED:
        x[labels == a, genes.index(b)] += 4.0 if counts else 3.0
    if counts:
        x = np.log1p(x)
    return x, genes, labels, perturbed


def _probabilities(perturbed, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = pd.DataFrame(rng.uniform(0, 0.4, (len(perturbed),) * 2), index=perturbed,
                     columns=perturbed)
    for a, b in PLANTED:
        p.loc[a, b] = 0.9
    return p


def test_planted_edges_are_found_and_non_edges_are_quiet():
    x, genes, labels, perturbed = _planted()
    m = statistical_edge_metrics(_edges(*PLANTED), x, genes, labels, "non-targeting",
                                 perturbed)
    assert m["n_edges"] == m["n_evaluated"] == m["n_testable"] == len(PLANTED)
    assert m["n_true_positives"] == len(PLANTED) and m["precision"] == 1.0
    assert m["mean_wasserstein"] == pytest.approx(3.0, abs=0.3)
    # all 12*11 - 7 unpredicted pairs are testable and fewer than n_non_edges: all tested
    assert m["n_non_edges_sampled"] == 12 * 11 - len(PLANTED)
    assert m["false_omission_rate"] < 0.12
    assert m["base_rate"] < 0.2

    # the same edges reversed are not supported by the data
    reversed_edges = _edges(*[(b, a) for a, b in PLANTED])
    r = statistical_edge_metrics(reversed_edges, x, genes, labels, "non-targeting", perturbed)
    assert r["precision"] <= 0.3
    assert r["mean_wasserstein"] < 0.5
    assert r["false_omission_rate"] > m["false_omission_rate"]  # planted ones now omitted


def test_report_threshold_and_top_k_with_k_capped():
    x, genes, labels, perturbed = _planted()
    probs = _probabilities(perturbed)
    report = statistical_grn_report(probs, x, genes, labels, "non-targeting",
                                    ks=(5, 1000), n_non_edges=50)
    assert set(report) == {"threshold", "top_k"}
    t = report["threshold"]
    assert t["threshold"] == 0.5 and t["n_edges"] == len(PLANTED) and t["precision"] == 1.0
    assert t["n_non_edges_sampled"] == 50
    top5 = report["top_k"]["5"]
    assert top5["k"] == 5 and top5["k_effective"] == 5 and top5["n_edges"] == 5
    assert top5["precision"] == 1.0
    everything = report["top_k"]["1000"]
    assert everything["k"] == 1000 and everything["k_effective"] == 12 * 11
    assert everything["n_edges"] == 12 * 11
    assert everything["n_non_edges_sampled"] == 0 and everything["false_omission_rate"] is None
    # mean Wasserstein falls as weaker edges are added (why matched K is reported)
    assert everything["mean_wasserstein"] < top5["mean_wasserstein"]
    # base rate does not depend on the prediction
    assert everything["base_rate"] == top5["base_rate"] == t["base_rate"]


def test_report_rejects_unknown_options():
    x, genes, labels, perturbed = _planted()
    with pytest.raises(TypeError, match="n_nonedges"):
        statistical_grn_report(_probabilities(perturbed), x, genes, labels, "non-targeting",
                               n_nonedges=5)


# ---------------------------------------------------------------- edge selection


@pytest.fixture()
def probs():
    return pd.DataFrame([[0.99, 0.5, 0.7],
                         [0.7, 0.99, np.nan],
                         [0.1, 0.7, 0.99]],
                        index=["A", "B", "C"], columns=["A", "B", "C"])


def test_top_k_skips_diagonal_and_nan_and_breaks_ties_row_major(probs):
    top = top_k_edges(probs, 4)
    assert list(top.columns) == ["source", "target", "probability"]
    assert list(zip(top.source, top.target, strict=True)) == [
        ("A", "C"), ("B", "A"), ("C", "B"), ("A", "B")]
    assert top.probability.tolist() == [0.7, 0.7, 0.7, 0.5]
    assert len(top_k_edges(probs, 100)) == 5  # 6 off-diagonal pairs, one NaN
    assert top_k_edges(probs, 0).empty
    with pytest.raises(ConfigError):
        top_k_edges(probs, -1)


def test_threshold_is_strict_and_sorted(probs):
    above = threshold_edges(probs, 0.5)
    assert list(zip(above.source, above.target, strict=True)) == [
        ("A", "C"), ("B", "A"), ("C", "B")]
    assert len(threshold_edges(probs, 0.0)) == 5
    assert threshold_edges(probs, 0.99).empty


# ---------------------------------------------------------------- untestable edges


def test_untestable_edges_are_counted_not_fatal(tiny):
    x, genes, labels = tiny
    edges = _edges(("A", "B"),  # testable
                   ("A", "Z"),  # target not measured
                   ("C", "B"),  # regulator without cells
                   ("Q", "Z"),  # both
                   ("A", "A"),  # self-loop: dropped
                   ("A", "B"))  # duplicate: dropped
    m = statistical_edge_metrics(edges, x, genes, labels, "NT", genes, min_cells=4)
    assert m["n_edges"] == m["n_evaluated"] == 4
    assert m["n_testable"] == 1
    assert m["n_untestable_target"] == 2 and m["n_untestable_regulator"] == 2

    few = statistical_edge_metrics(edges, x, genes, labels, "NT", genes, min_cells=5)
    assert few["n_testable"] == 0 and few["n_untestable_regulator"] == 4
    for key in ("precision", "mean_wasserstein", "false_omission_rate", "base_rate"):
        assert few[key] is None  # not NaN


def test_no_edges_and_case_insensitive_names(tiny):
    x, genes, labels = tiny
    m = statistical_edge_metrics(_edges(), x, [g.lower() for g in genes],
                                 np.char.lower(labels.astype(str)), "nt", genes, min_cells=4)
    assert m["n_edges"] == 0 and m["precision"] is None and m["mean_wasserstein"] is None
    # regulators A, B (4 cells) x measured targets A..D, minus the diagonal
    assert m["n_non_edges_sampled"] == 2 * 4 - 2 and m["base_rate"] is not None


def test_max_edges_evaluates_a_seeded_sample():
    x, genes, labels, perturbed = _planted()
    edges = top_k_edges(_probabilities(perturbed), 60)
    a = statistical_edge_metrics(edges, x, genes, labels, "non-targeting", perturbed,
                                 max_edges=20, seed=1)
    b = statistical_edge_metrics(edges, x, genes, labels, "non-targeting", perturbed,
                                 max_edges=20, seed=1)
    assert a == b
    assert a["n_edges"] == 60 and a["n_evaluated"] == 20 and a["n_testable"] == 20


def test_bad_inputs_are_clear_errors(tiny):
    x, genes, labels = tiny
    with pytest.raises(InputDataError, match="control"):
        statistical_edge_metrics(_edges(("A", "B")), x, genes, labels, "ctrl", genes)
    with pytest.raises(InputDataError, match="gene names"):
        statistical_edge_metrics(_edges(("A", "B")), x, genes[:3], labels, "NT", genes)
    with pytest.raises(InputDataError, match="labels"):
        statistical_edge_metrics(_edges(("A", "B")), x, genes, labels[:5], "NT", genes)


# ---------------------------------------------------------------- sparse input


def test_sparse_and_dense_give_the_same_numbers():
    x, genes, labels, perturbed = _planted(counts=True)
    x = x.astype(np.float32)
    probs = _probabilities(perturbed)
    args = (genes, labels, "non-targeting")
    dense = statistical_grn_report(probs, x, *args, ks=(10,))
    assert dense["threshold"]["precision"] == 1.0
    assert statistical_grn_report(probs, sp.csr_matrix(x), *args, ks=(10,)) == dense
    assert statistical_grn_report(probs, sp.csc_matrix(x), *args, ks=(10,)) == dense
    assert statistical_grn_report(probs, sp.coo_matrix(x), *args, ks=(10,)) == dense


def test_the_whole_matrix_is_never_densified(monkeypatch):
    x, genes, labels, perturbed = _planted(counts=True)
    matrix = sp.csr_matrix(x)
    shapes = []
    original = sp.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        shapes.append(self.shape)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", recording_toarray)
    statistical_edge_metrics(_edges(*PLANTED), matrix, genes, labels, "non-targeting",
                             perturbed)
    assert shapes  # the guard saw the densifications
    n_control = int(np.sum(labels == "non-targeting"))
    assert max(rows for rows, _ in shapes) == n_control  # control block, made once
    assert sum(rows == n_control for rows, _ in shapes) == 1
    assert max(cols for _, cols in shapes) <= len(perturbed)  # X0, X1 never needed
