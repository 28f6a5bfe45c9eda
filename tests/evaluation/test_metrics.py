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
                                 "jaccard_top20", "jaccard_top50", "mse_all",
                                 "pearson_specific_all", "rank", "de_overlap", "de_pr_auc",
                                 "de_direction_match", "de_spearman_lfc"]
    with pytest.raises(ValueError, match="already registered"):
        register_metric("pearson_all", "a duplicate")(lambda p, o: 0.0)
    with pytest.raises(ValueError, match="higher"):
        register_metric("sideways", "no direction", best="sideways")
    with pytest.raises(ValueError, match="scope"):
        register_metric("everywhere", "no scope", scope="everywhere")


def test_every_metric_says_what_it_measures_and_which_way_is_better():
    rng = np.random.default_rng(0)
    observed = rng.normal(size=60)
    profiles = rng.normal(size=(8, 60))
    for metric in ATE_METRICS.values():
        assert metric.description and metric.best in ("higher", "lower")
        # a perfect prediction scores the metric's best value and beats a random one
        if metric.scope == "set":
            perfect = metric(profiles, profiles)
            assert perfect == pytest.approx(np.full(8, metric.best_value))
            assert metric.better(perfect.mean(),
                                 metric(rng.normal(size=(8, 60)), profiles).mean())
            continue
        if metric.scope == "de":
            # the data's DE genes: its 10 largest effects
            is_de = np.zeros(60, dtype=bool)
            is_de[top_genes(observed, 10)] = True
            assert metric(observed, observed, is_de) == pytest.approx(metric.best_value)
            assert metric.better(metric(observed, observed, is_de),
                                 metric(rng.normal(size=60), observed, is_de))
            continue
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
    scores = {name: f(predicted, observed) for name, f in ATE_METRICS.items()
              if f.scope == "perturbation"}
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


def test_mse_is_the_mean_squared_difference():
    assert ATE_METRICS["mse_all"](np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])) == \
        pytest.approx((0 + 4 + 9) / 3)


def test_rank_is_zero_when_perfect_and_one_half_when_shuffled_or_collapsed():
    rng = np.random.default_rng(1)
    observed = rng.normal(size=(40, 100))
    rank = ATE_METRICS["rank"]
    assert rank(observed, observed) == pytest.approx(np.zeros(40))
    shuffled = np.mean([rank(observed[rng.permutation(40)], observed).mean()
                        for _ in range(20)])
    assert shuffled == pytest.approx(0.5, abs=0.03)
    # mode collapse: one profile (the mean) for every perturbation ranks at chance
    collapsed = np.tile(observed.mean(0), (40, 1))
    assert rank(collapsed, observed).mean() == pytest.approx(0.5, abs=0.02)
    # plain Pearson cannot see the collapse when perturbations share a large shift
    shared = 3.0 * rng.normal(size=100)
    with_shared = observed + shared
    assert pearson(collapsed[0] + shared, with_shared[0]) > 0.8
    assert np.isnan(rank(observed[:1], observed[:1])).all()      # one perturbation: none


def test_the_specific_effect_removes_a_shared_shift():
    rng = np.random.default_rng(2)
    shared = 3.0 * rng.normal(size=200)
    specific = rng.normal(size=(10, 200))
    observed = shared + specific
    metric = ATE_METRICS["pearson_specific_all"]
    # predicting the shared shift alone looks good to plain Pearson, scores 0 here
    only_shared = np.tile(shared, (10, 1))
    assert np.mean([pearson(p, o) for p, o in zip(only_shared, observed, strict=True)]) > 0.9
    assert metric(only_shared, observed) == pytest.approx(np.zeros(10))
    # the specific parts, with any shared shift of their own, score 1
    assert metric(specific + 5.0, observed) == pytest.approx(np.ones(10))
    noisy = metric(shared + specific + rng.normal(size=(10, 200)), observed)
    assert 0.5 < noisy.mean() < 0.9


def test_set_metrics_skip_missing_predictions():
    rng = np.random.default_rng(3)
    genes = [f"g{i}" for i in range(30)]
    observed = pd.DataFrame(rng.normal(size=(5, 30)), index=list("abcde"), columns=genes)
    predicted = observed.drop(index="c")
    scores = score_ates(predicted, observed)
    assert scores.loc["c"].isna().all()
    assert scores.loc[["a", "b", "d", "e"], "rank"].eq(0).all()


def test_de_metrics_against_hand_computed_values():
    from gpo_vae.evaluation.metrics import (
        de_direction_match,
        de_overlap,
        de_pr_auc,
        de_spearman_lfc,
    )

    observed = np.array([3.0, -2.0, 1.0, 0.1, 0.0, -0.1])
    is_de = np.array([True, True, True, False, False, False])
    # top-3 by |prediction| = genes 0, 3, 1: two of the three DE genes
    predicted = np.array([1.0, -0.5, 0.0, 0.8, 0.1, 0.2])
    assert de_overlap(predicted, observed, is_de) == pytest.approx(2 / 3)
    # ranking by |prediction|: 0 (DE), 3, 1 (DE), 5, 4, 2 (DE): AP = (1 + 2/3 + 3/6) / 3
    assert de_pr_auc(predicted, observed, is_de) == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    # signs on the DE genes: + vs +, - vs -, 0 vs +
    assert de_direction_match(predicted, observed, is_de) == pytest.approx(2 / 3)
    # ranks over the DE genes: observed (3, 1, 2), predicted (3, 1, 2)
    assert de_spearman_lfc(predicted, observed, is_de) == pytest.approx(1.0)
    none = np.zeros(6, dtype=bool)
    assert all(np.isnan(f(predicted, observed, none)) for f in
               (de_overlap, de_pr_auc, de_direction_match, de_spearman_lfc))


def test_de_metrics_are_nan_without_de_genes_and_scored_with_them():
    observed = pd.DataFrame([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], index=["A", "B"],
                            columns=list("xyz"))
    predicted = observed * 0.5
    assert score_ates(predicted, observed)["de_overlap"].isna().all()
    de = pd.DataFrame([[True, False, True], [False, True, False]], index=["A", "B"],
                      columns=list("xyz"))
    scores = score_ates(predicted, observed, de=de)
    assert scores["de_overlap"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="different genes"):
        score_ates(predicted, observed, de=de.rename(columns={"x": "w"}))


def test_de_genes_finds_the_shifted_genes_of_each_perturbation():
    from gpo_vae.evaluation.de import de_genes

    rng = np.random.default_rng(0)
    n = 60
    control = rng.normal(size=(n, 8))
    a = rng.normal(size=(n, 8))
    a[:, 2] += 3.0
    b = rng.normal(size=(n, 8))
    b[:, [5, 6]] -= 3.0
    expression = np.vstack([control, a, b])
    labels = np.array(["ctrl"] * n + ["A"] * n + ["B"] * n)
    found = de_genes(expression, labels, "ctrl", [f"g{i}" for i in range(8)], ["A", "B", "C"])
    assert found.loc["A"].to_numpy().nonzero()[0].tolist() == [2]
    assert found.loc["B"].to_numpy().nonzero()[0].tolist() == [5, 6]
    assert not found.loc["C"].any()    # no cells: nothing called
