import numpy as np
import pandas as pd
import pytest

from gpo_vae.evaluation.ate import AteTable, ate_from_cells
from gpo_vae.evaluation.baselines import (
    LinearBaseline,
    additive_baseline,
    global_mean_baseline,
    noise_free_pearson,
    pert_mean_baseline,
    split_half_ceiling,
)
from gpo_vae.evaluation.metrics import score_ates

GENES = [f"g{i}" for i in range(40)]


def _screen(noise: float, n_per_group: int = 40, seed: int = 0):
    """Cells of three perturbations and controls: expression = group effect + noise."""
    rng = np.random.default_rng(seed)
    effects = {"ctrl": np.zeros(40), "A": rng.normal(size=40) * 2,
               "B": rng.normal(size=40) * 2, "C": rng.normal(size=40) * 2}
    labels = np.repeat(list(effects), n_per_group)
    x = np.stack([effects[label] for label in labels]) + noise * rng.normal(size=(len(labels), 40))
    return x, labels, effects


def test_on_perfect_data_pert_mean_equals_the_ceiling_estimator_and_scores_one():
    x, labels, effects = _screen(noise=0.0)
    train = ate_from_cells(x, labels, "ctrl", GENES)
    test = ate_from_cells(x, labels, "ctrl", GENES)
    perts = ["A", "B", "C"]
    predicted = pert_mean_baseline(train, perts)
    pd.testing.assert_frame_equal(predicted, test.rows(perts))
    assert np.allclose(predicted.loc["A"], effects["A"])
    ceiling = split_half_ceiling(x, labels, "ctrl", GENES, perts, n_repeats=2)
    mean_scores = score_ates(predicted, test.rows(perts))
    for column in ("pearson_all", "pearson_top20", "r2_all", "jaccard_top20"):
        assert np.allclose(ceiling[column], 1.0)
        assert np.allclose(mean_scores[column], 1.0)


def test_ceiling_is_below_one_on_noisy_data_and_rises_with_more_cells():
    perts = ["A", "B", "C"]
    few = split_half_ceiling(*_screen(noise=3.0, n_per_group=10)[:2], "ctrl", GENES, perts)
    many = split_half_ceiling(*_screen(noise=3.0, n_per_group=400)[:2], "ctrl", GENES, perts)
    assert (few["pearson_all"] < 1).all() and (many["pearson_all"] < 1).all()
    assert many["pearson_all"].mean() > few["pearson_all"].mean()
    corrected = noise_free_pearson(few)
    assert (corrected["pearson_all"] >= few["pearson_all"]).all()
    assert (corrected["pearson_all"] <= 1).all() and corrected["r2_all"].isna().all()


def test_global_mean_and_unseen_perturbations():
    x, labels, _ = _screen(noise=0.5)
    train = ate_from_cells(x, labels, "ctrl", GENES)
    glob = global_mean_baseline(train, ["A", "Z"])
    assert np.allclose(glob.loc["A"], train.values.mean(axis=0))
    assert np.allclose(glob.loc["Z"], glob.loc["A"])
    assert pert_mean_baseline(train, ["Z"]).isna().all(axis=None)   # unseen: no prediction


def test_linear_baseline_generalises_through_gene_embeddings():
    """Knocking down gene g shifts genes co-expressed with g: the linear model learns the
    map from a gene's embedding to its perturbation effect and predicts an unseen one."""
    rng = np.random.default_rng(0)
    n_genes, n_cells = 40, 3000
    genes = [f"g{i}" for i in range(n_genes)]
    programs = rng.normal(size=(3, n_genes))                # 3 co-expression programs
    x = rng.normal(size=(n_cells, 3)) @ programs + 0.3 * rng.normal(size=(n_cells, n_genes))
    # knocking down gene g lowers each program in proportion to g's loading on it
    ate = {f"g{g}": -programs[:, g] @ programs for g in range(40)}
    train_names = [f"g{g}" for g in range(30)]
    train_table = pd.DataFrame([ate[n] for n in train_names], index=train_names,
                               columns=genes)
    from gpo_vae.evaluation.ate import AteTable
    train = AteTable(train_table, pd.Series(50, index=train_names), 100)
    model = LinearBaseline.fit(x, train, lambda label: [label], n_components=3, ridge=0.01)
    unseen = model.predict(["g30", "g31", "not_a_gene"])
    for name in ("g30", "g31"):
        assert np.corrcoef(unseen.loc[name], ate[name])[0, 1] > 0.9
    assert np.allclose(unseen.loc["not_a_gene"], train_table.mean(axis=0))
    with pytest.raises(KeyError):
        unseen.loc["g0"]


def test_the_additive_baseline_is_exact_on_additive_doubles():
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(20)]
    singles = pd.DataFrame(rng.normal(size=(3, 20)), index=["A", "B", "C"], columns=genes)
    train = AteTable(singles, pd.Series(50, index=singles.index), 100)
    predicted = additive_baseline(train, ["A+B", "B+C", "A", "A+D"])
    np.testing.assert_allclose(predicted.loc["A+B"], singles.loc["A"] + singles.loc["B"])
    np.testing.assert_allclose(predicted.loc["B+C"], singles.loc["B"] + singles.loc["C"])
    np.testing.assert_allclose(predicted.loc["A"], singles.loc["A"])
    assert predicted.loc["A+D"].isna().all()                  # D has no training cells
    assert additive_baseline(train, ["A_B"], separator="_").loc["A_B"].notna().all()


def test_the_fitted_additive_baseline_pools_singles_and_doubles():
    from gpo_vae.evaluation.baselines import additive_fit_baseline

    values = pd.DataFrame([[1.0, 0.0], [0.0, 2.0], [1.3, 2.0], [4.0, 4.0]],
                          index=["A", "B", "A+B", "C+D"], columns=["g0", "g1"])
    train = AteTable(values, pd.Series(10, index=values.index), 50)
    fitted = additive_fit_baseline(train, ["A+C", "A", "A+E"])
    plain = additive_baseline(train, ["A+C", "A", "A+E"])
    # on g0, A = 1, B = 0 and A + B = 1.3 measured: least squares gives A 1.1 and B 0.1;
    # C, only inside C+D, shares that condition with D (the minimum-norm split: half each)
    assert fitted.loc["A"].tolist() == pytest.approx([1.1, 0.0])
    assert fitted.loc["A+C"].tolist() == pytest.approx([1.1 + 2.0, 2.0])
    assert plain.loc["A+C"].isna().all()                     # C was never alone
    assert fitted.loc["A+E"].isna().all()                    # E is in no condition
