import numpy as np
import pandas as pd
import pytest

from gpo_vae.benchmarking.runner import CEILING_METHOD, JobResult
from gpo_vae.benchmarking.summary import long_table, markdown, mean_interval, summarize
from gpo_vae.evaluation.metrics import ATE_METRICS

PERTS = [f"p{i}" for i in range(12)]


def _scores(offset: float, rng) -> pd.DataFrame:
    values = rng.normal(size=(len(PERTS), len(ATE_METRICS))) * 0.01 + offset
    return pd.DataFrame(values, index=PERTS, columns=list(ATE_METRICS))


def _results():
    rng = np.random.default_rng(0)
    return [JobResult(0, CEILING_METHOD, 0, "ok", scores=_scores(0.9, rng)),
            JobResult(0, "model", 0, "ok", scores=_scores(0.5, rng),
                      extras={"iwelbo_test": -100.0, "iwelbo_test_standard_error": 1.0}),
            JobResult(0, "model", 1, "ok", scores=_scores(0.52, rng),
                      extras={"iwelbo_test": -102.0, "iwelbo_test_standard_error": 1.0}),
            JobResult(0, "model", 2, "failed", "the loss became NaN"),
            JobResult(0, "mean", 0, "ok", scores=_scores(0.7, rng)),
            JobResult(0, "additive", 0, "skipped", "no combination")]


def test_mean_interval_covers_the_mean_and_handles_edge_cases():
    mean, low, high = mean_interval(np.arange(20.0))
    assert low < mean == 9.5 < high
    assert mean_interval([1.0, 1.0, np.nan]) == (1.0, 1.0, 1.0)
    assert all(np.isnan(v) for v in mean_interval([np.nan]))
    assert mean_interval([3.0])[0] == 3.0 and np.isnan(mean_interval([3.0])[1])


def test_long_table_has_a_row_per_method_seed_and_metric_and_keeps_failures():
    table = long_table(_results(), {"model": "Model"})
    model = table[table["method"] == "model"]
    assert set(model["seed"]) == {0, 1, 2}
    assert set(model[model["seed"] == 0]["metric"]) == set(ATE_METRICS) | {"iwelbo_test"}
    failed = model[model["seed"] == 2]
    assert (failed["status"] == "failed").all() and failed["value"].isna().all()
    assert (failed["error"] == "the loss became NaN").all()
    row = model[(model["seed"] == 0) & (model["metric"] == "pearson_top20")].iloc[0]
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["n_perturbations"] == 12


def test_summary_has_seed_spread_intervals_and_paired_verdicts():
    labels = {"model": "Model", "mean": "Mean", CEILING_METHOD: "ceiling"}
    summary = summarize(_results(), labels, trained={"model"}, reference="model")
    assert summary.methods == ["model", "mean", CEILING_METHOD]
    model = summary.by_method["model"]["pearson_top20"]
    assert model.n_runs == 2 and model.n_failed == 1
    assert model.mean == pytest.approx(0.51, abs=0.01) and model.sd > 0
    assert summary.by_method["mean"]["pearson_top20"].sd is None  # deterministic
    verdict = summary.comparisons["mean"]["pearson_top20"]["verdict"]
    assert verdict.startswith("Model LOSES TO Mean")
    assert summary.comparisons["mean"]["mse_all"]["verdict"].startswith("Model beats Mean")
    assert summary.iwelbo["model"] == (-101.0, pytest.approx(np.sqrt(2)))
    text = markdown(summary, ["# test"], ["gpo-vae benchmark x.yaml"])
    assert "| Model | 2 (1 failed) |" in text and "the loss became NaN" in text
    assert "no combination" in text and "gpo-vae benchmark x.yaml" in text


def test_a_method_that_predicts_nothing_is_listed_as_not_scored():
    results = _results() + [JobResult(0, "blind", 0, "ok", scores=_scores(0.0, np.random
                                      .default_rng(1)) * np.nan)]
    summary = summarize(results, {"blind": "Blind"}, trained={"model"}, reference="model")
    assert "blind" not in summary.methods
    assert any(s.startswith("Blind: predicts none") for s in summary.skipped)
    assert "Blind: predicts none" in markdown(summary, [], [])
