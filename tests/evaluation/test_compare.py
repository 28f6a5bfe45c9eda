import numpy as np
import pytest

from gpo_vae.evaluation.compare import paired_comparison


def test_a_clear_paired_gain_is_a_result_and_its_direction_follows_the_metric():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.2, size=60)
    better = base + 0.05 + rng.normal(0, 0.01, size=60)
    c = paired_comparison(better, base, metric="pearson_top20", names=("model", "mean"))
    assert c.verdict.startswith("model beats mean on pearson_top20")
    assert c.ci_low > 0 and c.p_value < 0.001 and c.n == 60
    assert c.mean_difference == pytest.approx(np.mean(better - base))
    # the same numbers for a metric where lower is better: the model loses
    lower = paired_comparison(better, base, metric="rank", names=("model", "mean"),
                              best="lower")
    assert lower.verdict.startswith("model LOSES TO mean on rank")


def test_noise_and_ties_are_no_result():
    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    noise = paired_comparison(rng.normal(size=40), rng.normal(size=40), metric="m")
    assert noise.verdict.startswith("no difference beyond noise")
    assert noise.ci_low < 0 < noise.ci_high
    same = paired_comparison(a, a, metric="m")
    assert same.p_value == 1.0 and same.verdict.startswith("no difference")


def test_missing_pairs_are_left_out_and_bad_input_is_refused():
    a = np.array([1.0, np.nan, 3.0, 4.0])
    b = np.array([0.5, 2.0, np.nan, 3.0])
    c = paired_comparison(a, b)
    assert c.n == 2
    assert "too few" in paired_comparison(a[:1], b[:1]).verdict
    with pytest.raises(ValueError, match="same length"):
        paired_comparison(a, b[:3])
    with pytest.raises(ValueError, match="higher"):
        paired_comparison(a, b, best="sideways")
    first = paired_comparison(np.arange(10.0) + 0.3, np.arange(10.0)[::-1], seed=3)
    again = paired_comparison(np.arange(10.0) + 0.3, np.arange(10.0)[::-1], seed=3)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)


def test_verdicts_use_the_paired_comparison_when_there_is_one():
    from gpo_vae.evaluation.evaluate import verdicts

    rng = np.random.default_rng(4)
    base = rng.normal(0.5, 0.1, size=30)
    summary = {"model": {"pearson_all": 0.51, "pearson_top20": 0.70},
               "baseline_linear": {"pearson_all": 0.50, "pearson_top20": 0.60}}
    comparisons = {"baseline_linear": {
        "pearson_all": paired_comparison(base + rng.normal(0, 0.05, size=30), base,
                                         metric="pearson_all",
                                         names=("model", "baseline_linear")).to_dict(),
        "pearson_top20": paired_comparison(base + 0.1, base - rng.uniform(0, 0.01, size=30),
                                           metric="pearson_top20",
                                           names=("model", "baseline_linear")).to_dict()}}
    lines = verdicts(summary, None, None, comparisons)
    assert lines[0].startswith("model ties (no difference beyond noise) baseline_linear on "
                               "pearson_all (0.510 vs 0.500; paired difference")
    assert lines[1].startswith("model beats baseline_linear on pearson_top20")
    # without comparisons: two single values, which give no verdict, and say so
    assert verdicts(summary, None)[0] == "model is above baseline_linear on pearson_all " \
        "(0.510 vs 0.500; one value each, no interval: compare over seeds)"
    truth = {"auprc": 0.565, "k": 62, "precision_at_k": 0.5,
             "baseline_correlation_auprc": 0.564, "baseline_correlation_precision_at_k": 0.6}
    grn = [line for line in verdicts(summary, truth) if line.startswith("q(M)")]
    assert grn[0].startswith("q(M) is above the correlation GRN baseline on AUPRC") and \
        "no interval" in grn[0]
    assert grn[1].startswith("q(M) is below the correlation GRN baseline on precision")


def test_grn_auprc_verdicts_use_the_paired_bootstrap_when_it_is_there():
    from gpo_vae.evaluation.evaluate import verdicts

    truth = {"auprc": 0.565, "k": 62, "precision_at_k": 0.5,
             "baseline_mean_shift_auprc": 0.516, "baseline_mean_shift_precision_at_k": 0.5,
             "paired_mean_shift_auprc": {"mean_difference": 0.049, "ci_low": 0.006,
                                         "ci_high": 0.093, "p_value": 0.018, "n": 50,
                                         "verdict": "beats"},
             "baseline_direct_shift_auprc": 0.564,
             "paired_direct_shift_auprc": {"mean_difference": 0.001, "ci_low": -0.013,
                                           "ci_high": 0.026, "p_value": 0.73, "n": 50,
                                           "verdict": "ties"}}
    grn = [line for line in verdicts({"model": {}}, truth) if line.startswith("q(M)")]
    assert grn[0] == ("q(M) beats the mean shift GRN baseline on AUPRC (0.565 vs 0.516; "
                      "paired difference +0.049, 95% interval [+0.006, +0.093], p = 0.018, "
                      "bootstrap over the 50 regulators)")
    assert grn[1].startswith("q(M) ties the mean shift GRN baseline on precision at K=62")
    assert grn[2].startswith("q(M) ties (no difference beyond noise) the direct shift GRN "
                             "baseline on AUPRC (0.565 vs 0.564; paired difference +0.001")
