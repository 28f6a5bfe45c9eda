import numpy as np
import pandas as pd
import pytest

from gpo_vae.evaluation.metrics import (
    ATE_METRICS,
    aggregate_scores,
    jaccard_top,
    pearson,
    r_squared,
    register_metric,
    score_ates,
    top_genes,
)


def test_registry_holds_the_issue_metrics_and_refuses_duplicates():
    assert list(ATE_METRICS) == ["pearson_all", "pearson_top20", "r2_all", "r2_top20",
                                 "jaccard_top20", "jaccard_top50"]
    with pytest.raises(ValueError, match="already registered"):
        register_metric("pearson_all", "a duplicate")(lambda p, o: 0.0)
    with pytest.raises(ValueError, match="higher"):
        register_metric("sideways", "no direction", best="sideways")


def test_every_metric_says_what_it_measures_and_which_way_is_better():
    rng = np.random.default_rng(0)
    observed = rng.normal(size=60)
    for metric in ATE_METRICS.values():
        assert metric.description and metric.best in ("higher", "lower")
        # a perfect prediction scores the metric's best value and beats a random one
        assert metric(observed, observed) == pytest.approx(metric.best_value)
        assert metric.better(metric(observed, observed), metric(rng.normal(size=60), observed))


def test_pearson_and_r2_against_hand_computed_values():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.0, 3.0, 2.0, 4.0])
    # centred: o = [-1.5,-.5,.5,1.5], p = [-1.5,.5,-.5,1.5]; sum(op) = 2.25-.25-.25+2.25 = 4
    # sum(o^2) = sum(p^2) = 5 -> r = 0.8
    assert pearson(predicted, observed) == pytest.approx(0.8)
    # SS_res = 0+1+1+0 = 2, SS_tot = 5 -> R^2 = 0.6
    assert r_squared(predicted, observed) == pytest.approx(0.6)
    assert r_squared(observed + 10, observed) < 0          # a shifted prediction is penalised
    assert np.isnan(pearson(np.ones(4), observed))          # constant prediction: undefined


def test_top_genes_and_jaccard():
    observed = np.array([0.1, -5.0, 3.0, 0.0, 2.0])
    assert top_genes(observed, 2).tolist() == [1, 2]        # by absolute value
    predicted = np.array([4.0, 0.0, -3.0, 0.0, 0.0])        # top 2: genes 0 and 2
    assert jaccard_top(predicted, observed, 2) == pytest.approx(1 / 3)
    assert jaccard_top(observed, observed, 2) == 1.0


def test_top20_metrics_use_the_genes_with_largest_data_effect():
    rng = np.random.default_rng(0)
    observed = rng.normal(size=200)
    observed[:20] += np.sign(observed[:20]) * 10            # 20 clear top genes
    predicted = rng.normal(size=200)                        # noise elsewhere...
    predicted[:20] = observed[:20]                          # ...exact on the top 20
    scores = {name: f(predicted, observed) for name, f in ATE_METRICS.items()}
    assert scores["pearson_top20"] == pytest.approx(1.0)
    assert scores["r2_top20"] == pytest.approx(1.0)
    assert scores["jaccard_top20"] == 1.0
    assert scores["pearson_all"] < 1.0


def test_score_ates_per_perturbation_missing_rows_and_mismatched_genes():
    genes = [f"g{i}" for i in range(30)]
    rng = np.random.default_rng(1)
    observed = pd.DataFrame(rng.normal(size=(2, 30)), index=["A", "B"], columns=genes)
    predicted = observed.loc[["A"]] * 2.0                   # B has no prediction
    scores = score_ates(predicted, observed)
    assert scores.loc["A", "pearson_all"] == pytest.approx(1.0)
    assert scores.loc["B"].isna().all()
    assert aggregate_scores(scores)["pearson_all"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="different genes"):
        score_ates(predicted.iloc[:, ::-1], observed)
