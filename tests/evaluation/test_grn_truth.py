import numpy as np
import pandas as pd
import pytest

from gpo_vae.evaluation.grn_truth import calibration, truth_block, truth_metrics

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
    assert m["precision_at"] == {"2": 0.5}                    # K = 50, 100, 500 > 12 pairs
    assert truth_metrics(scores, truth, ks=(1, 3))["precision_at"] == \
        {"1": 1.0, "2": 0.5, "3": pytest.approx(2 / 3)}
    # the diagonal is ignored even if it scores highest
    np.fill_diagonal(scores.values, 5.0)
    assert truth_metrics(scores, truth)["auprc"] == pytest.approx(m["auprc"])


def test_wasserstein_plot_copes_with_untestable_edges(tmp_path):
    from gpo_vae.evaluation.plots import plot_wasserstein_vs_k

    empty = {"n_edges": 3, "precision": None, "mean_wasserstein": None, "base_rate": None}
    stats = {"threshold": {**empty, "threshold": 0.5},
             "top_k": {"50": {**empty, "k": 50, "k_effective": 12}}}
    assert plot_wasserstein_vs_k(stats, tmp_path / "w.png").is_file()


def test_reachability_is_the_transitive_closure():
    from gpo_vae.evaluation.grn_truth import reachability

    chain = pd.DataFrame(False, index=list("abcd"), columns=list("abcd"))
    chain.loc["a", "b"] = chain.loc["b", "c"] = True
    reach = reachability(chain)
    assert reach.loc["a", "c"] and reach.loc["a", "b"] and reach.loc["b", "c"]
    assert not reach.loc["c", "a"] and not reach["d"].any() and not reach.loc["d"].any()
    assert reach.to_numpy().sum() == 3


def test_calibration_is_zero_for_frequencies_and_large_for_overconfidence():
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(60)]
    p = pd.DataFrame(rng.uniform(size=(60, 60)), index=genes, columns=genes)
    truth = pd.DataFrame(rng.uniform(size=(60, 60)) < p.to_numpy(), index=genes,
                         columns=genes)
    honest = calibration(p, truth)
    assert honest["ece"] < 0.05                   # edges at p are true about p of the time
    assert sum(b["n"] for b in honest["bins"]) == 60 * 59
    overconfident = calibration((p > 0.5).astype(float), truth)
    assert overconfident["ece"] > 0.2
    assert overconfident["mean_probability_at_least_half"] == 1.0
    assert 0.6 < overconfident["precision_at_least_half"] < 0.9
    missing = p.copy()
    missing.iloc[0, 1:] = np.nan                              # pairs without a probability
    assert sum(b["n"] for b in calibration(missing, truth)["bins"]) == 60 * 59 - 59
    none_confident = calibration(p * 0.1, truth)
    assert none_confident["n_at_least_half"] == 0
    assert none_confident["precision_at_least_half"] is None


def test_truth_from_an_edge_table_in_true_grn():
    edges = pd.DataFrame({"source": ["A", "C", "A"], "target": ["B", "D", "X"],
                          "weight": [0.5, -1.0, 2.0]})
    block = truth_block({"true_grn": edges}, GENES)
    expected = truth_block({"true_grn_perturbed": _truth()}, GENES)
    pd.testing.assert_frame_equal(block, expected, check_names=False)
    # the simulator's perturbed block wins over the whole-network table
    assert truth_block({"true_grn": edges, "true_grn_perturbed": _truth() * 0}, GENES
                       ).to_numpy().sum() == 0


def _random_network(n_genes: int = 30, density: float = 0.08, seed: int = 0):
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    truth = pd.DataFrame(rng.random((n_genes, n_genes)) < density, index=genes,
                         columns=genes)
    return truth, rng


def test_paired_auprc_beats_ties_and_loses_over_regulators():
    from gpo_vae.evaluation.grn_truth import paired_auprc

    truth, rng = _random_network()
    noise = pd.DataFrame(rng.random(truth.shape), index=truth.index, columns=truth.columns)
    informative = truth.astype(float) + 0.5 * noise        # ranks most true edges first
    better = paired_auprc(informative, noise, truth, n_resamples=300)
    assert better["verdict"] == "beats" and better["ci_low"] > 0 and better["n"] == 30
    assert better["mean_difference"] == pytest.approx(
        truth_metrics(informative, truth)["auprc"] - truth_metrics(noise, truth)["auprc"])
    assert paired_auprc(noise, informative, truth, n_resamples=300)["verdict"] == "LOSES TO"
    same = paired_auprc(noise, noise.copy(), truth, n_resamples=300)
    assert same["verdict"] == "ties" and same["mean_difference"] == 0.0
    # seeded: the same call gives the same interval
    assert paired_auprc(informative, noise, truth, n_resamples=300) == better


def test_paired_auprc_on_a_truth_without_edges_is_empty_and_infinite_scores_rank():
    from gpo_vae.evaluation.grn_truth import paired_auprc

    truth, _ = _random_network()
    assert paired_auprc(truth.astype(float), truth.astype(float), truth & False) == {}
    # +inf ranks first, NaN and -inf last (scikit-learn refuses non-finite scores)
    scores = truth.astype(float).where(truth, np.nan)
    scores = scores.where(~truth, np.inf)
    assert truth_metrics(scores, truth)["auprc"] == pytest.approx(1.0)
    last = truth.astype(float).where(~truth, -np.inf)       # true edges -inf, the rest 0
    assert truth_metrics(last, truth)["auroc"] == pytest.approx(0.0)
