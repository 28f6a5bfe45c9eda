import numpy as np
import pandas as pd
import pytest

from gpo_vae.evaluation.grn_truth import (
    correlation_scores,
    mean_shift_scores,
    truth_block,
    truth_metrics,
)

GENES = ["A", "B", "C", "D"]


def _truth():
    t = pd.DataFrame(0.0, index=GENES, columns=GENES)
    t.loc["A", "B"] = 1.0
    t.loc["C", "D"] = -0.5                                  # signed weights count as edges
    return t


def test_truth_block_reorders_and_fills_missing_genes():
    block = truth_block({"true_grn_perturbed": _truth()}, ["B", "A", "E"])
    assert block.loc["A", "B"] and not block.loc["B", "A"]
    assert not block.loc["E"].any()                          # unknown gene: no edges
    assert truth_block({}, GENES) is None


def test_truth_metrics_perfect_reversed_and_hand_computed():
    truth = truth_block({"true_grn_perturbed": _truth()}, GENES)
    perfect = truth.astype(float)
    m = truth_metrics(perfect, truth)
    assert m["auprc"] == pytest.approx(1.0) and m["auroc"] == pytest.approx(1.0)
    assert m["precision_at_k"] == 1.0 and m["k"] == 2 and m["n_pairs"] == 12
    assert m["random_auprc"] == pytest.approx(2 / 12)
    assert truth_metrics(1 - perfect, truth)["auroc"] == pytest.approx(0.0)
    # ranks: A->B first (true), then B->A (false), then C->D (true), rest 0
    scores = pd.DataFrame(0.0, index=GENES, columns=GENES)
    scores.loc["A", "B"], scores.loc["B", "A"], scores.loc["C", "D"] = 0.9, 0.8, 0.7
    m = truth_metrics(scores, truth)
    assert m["auprc"] == pytest.approx((1 / 1 + 2 / 3) / 2)   # average precision
    assert m["precision_at_k"] == 0.5
    # the diagonal is ignored even if it scores highest
    np.fill_diagonal(scores.values, 5.0)
    assert truth_metrics(scores, truth)["auprc"] == pytest.approx(m["auprc"])


def test_mean_shift_finds_planted_effects_and_skips_unmeasured_genes():
    rng = np.random.default_rng(0)
    labels = np.repeat(["ctrl", "A", "B"], 200)
    x = rng.normal(size=(600, 3))                            # measured: A, B, C
    x[labels == "A", 1] += 3.0                               # A -> B
    scores = mean_shift_scores(x, ["A", "B", "C"], labels, "ctrl", ["A", "B", "C", "D"])
    assert scores.loc["A", "B"] > 2.5
    assert scores.loc["B", "C"] < 0.5
    assert (scores["D"] == 0).all() and (scores.loc["C"] == 0).all()   # no cells / unmeasured
    with pytest.raises(ValueError, match="no control"):
        mean_shift_scores(x, ["A", "B", "C"], labels, "missing", ["A"])


def test_correlation_is_symmetric_absolute_and_zero_for_constant_genes():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    x = np.column_stack([a, -a + 0.1 * rng.normal(size=500), np.ones(500)])
    scores = correlation_scores(x, ["A", "B", "C"], ["A", "B", "C", "D"])
    assert scores.loc["A", "B"] == pytest.approx(scores.loc["B", "A"])
    assert scores.loc["A", "B"] > 0.95
    assert (scores["C"] == 0).all() and (scores["D"] == 0).all()


def test_wasserstein_plot_copes_with_untestable_edges(tmp_path):
    from gpo_vae.evaluation.plots import plot_wasserstein_vs_k

    empty = {"n_edges": 3, "precision": None, "mean_wasserstein": None, "base_rate": None}
    stats = {"threshold": {**empty, "threshold": 0.5},
             "top_k": {"50": {**empty, "k": 50, "k_effective": 12}}}
    assert plot_wasserstein_vs_k(stats, tmp_path / "w.png").is_file()


def _chain_shifts(noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Signed standardised shifts of a linear chain a -> b -> c, all three knocked down:
    each knockdown lowers its own gene by 2; a -> b has weight 0.6, b -> c weight -0.5."""
    own = -2.0
    t = np.zeros((3, 3))
    np.fill_diagonal(t, own)
    t[0, 1] = 0.6 * own                 # a moves b
    t[1, 2] = -0.5 * own                # b moves c
    t[0, 2] = t[0, 1] * -0.5            # a moves c only through b
    t += noise * np.random.default_rng(seed).normal(size=t.shape)
    return pd.DataFrame(t, index=list("abc"), columns=list("abc"))


def test_direct_shift_ranks_the_chain_edges_above_the_path_through_b():
    from gpo_vae.evaluation.grn_truth import direct_shift_scores

    for noise, seed in [(0.0, 0), (0.05, 1), (0.05, 2)]:
        shifts = _chain_shifts(noise, seed)
        direct = direct_shift_scores(shifts)
        assert min(direct.loc["a", "b"], direct.loc["b", "c"]) > direct.loc["a", "c"]
        # the mean shift alone cannot tell: a -> c is as large as a real edge
        assert shifts.abs().loc["a", "c"] > 0.5
    assert direct_shift_scores(_chain_shifts()).loc["a", "c"] == pytest.approx(0.0)


def test_reachability_is_the_transitive_closure():
    from gpo_vae.evaluation.grn_truth import reachability

    chain = pd.DataFrame(False, index=list("abcd"), columns=list("abcd"))
    chain.loc["a", "b"] = chain.loc["b", "c"] = True
    reach = reachability(chain)
    assert reach.loc["a", "c"] and reach.loc["a", "b"] and reach.loc["b", "c"]
    assert not reach.loc["c", "a"] and not reach["d"].any() and not reach.loc["d"].any()
    assert reach.to_numpy().sum() == 3
