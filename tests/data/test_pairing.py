"""Control pairing must recover planted matches, stay inside the control pool and fail clearly."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.sparse as sp
from scipy.stats import wasserstein_distance

from gpo_vae.data.pairing import (
    PAIRING_METHODS,
    TreatmentExpression,
    pair_all,
    pair_controls,
    wasserstein_gene_weights,
)
from gpo_vae.errors import ConfigError, InputDataError


def _planted(n=60, genes=20, seed=0, noise=0.01):
    """Controls, and perturbed cells that are a permutation of them plus tiny noise."""
    rng = np.random.default_rng(seed)
    controls = rng.normal(size=(n, genes)).astype(np.float32)
    perm = rng.permutation(n)
    perturbed = controls[perm] + rng.normal(scale=noise, size=(n, genes)).astype(np.float32)
    return perturbed, controls, perm


def _message(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text, "error messages must be one line"
    return text


def test_hungarian_recovers_planted_permutation_exactly():
    perturbed, controls, perm = _planted()
    np.testing.assert_array_equal(pair_controls(perturbed, controls, "hungarian"), perm)


@pytest.mark.parametrize("method", ["ot", "wd"])
def test_ot_and_wd_mostly_recover_planted_permutation(method):
    perturbed, controls, perm = _planted()
    matched = pair_controls(perturbed, controls, method)
    assert matched.shape == perm.shape and np.issubdtype(matched.dtype, np.integer)
    assert (matched == perm).mean() >= 0.9


def test_ot_recovers_planted_cells_from_a_larger_pool():
    rng = np.random.default_rng(1)
    controls = rng.normal(size=(300, 30)).astype(np.float32)
    source = rng.choice(300, size=40, replace=False)
    perturbed = controls[source] + rng.normal(scale=0.01, size=(40, 30)).astype(np.float32)
    assert (pair_controls(perturbed, controls, "ot") == source).mean() >= 0.9


def test_ot_does_not_depend_on_the_scale_of_the_expression():
    # The cost is normalised, so a fixed reg means the same at any scale.
    perturbed, controls, _ = _planted()
    matched = pair_controls(perturbed, controls, "ot")
    for factor in (1e-3, 1e3):
        np.testing.assert_array_equal(
            pair_controls(perturbed * factor, controls * factor, "ot"), matched
        )


def _with_outlier(seed=10):
    """40 cells copied (with noise) from 300 controls; cell 0 is pushed far from all."""
    rng = np.random.default_rng(seed)
    controls = rng.normal(size=(300, 10))
    source = rng.choice(300, size=40, replace=False)
    perturbed = controls[source] + rng.normal(scale=0.01, size=(40, 10))
    perturbed[0] += 20.0
    return perturbed.astype(np.float32), controls.astype(np.float32), source


def test_ot_handles_an_outlier_cell_without_underflow():
    perturbed, controls, source = _with_outlier()
    matched = pair_controls(perturbed, controls, "ot")
    assert matched.min() >= 0 and matched.max() < 300
    assert (matched[1:] == source[1:]).mean() >= 0.75


def test_ot_falls_back_to_stabilised_sinkhorn_when_plain_sinkhorn_breaks_down(monkeypatch):
    perturbed, controls, perm = _planted(n=30, genes=10)
    calls = []
    stabilised = ot.bregman.sinkhorn_stabilized

    def counting_stabilised(*args, **kwargs):
        calls.append(1)
        return stabilised(*args, **kwargs)

    monkeypatch.setattr(ot.bregman, "sinkhorn_stabilized", counting_stabilised)
    assert (pair_controls(perturbed, controls, "ot") == perm).mean() >= 0.9
    assert not calls, "plain Sinkhorn suffices at the default reg"
    # A tiny reg overflows plain Sinkhorn on a cell far from every control.
    outlier, pool, _ = _with_outlier()
    matched = pair_controls(outlier, pool, "ot", reg=1e-3)
    assert calls and matched.min() >= 0 and matched.max() < 300
    # A plan with NaNs (underflow) is never used.
    monkeypatch.setattr(
        ot,
        "sinkhorn",
        lambda a, b, M, reg, **kw: (np.full(M.shape, np.nan), {"niter": 0, "err": []}),
    )
    assert (pair_controls(perturbed, controls, "ot") == perm).mean() >= 0.9


def test_wd_weights_match_scipy_per_gene_wasserstein():
    rng = np.random.default_rng(2)
    perturbed = rng.gamma(2.0, size=(37, 6))
    controls = rng.normal(size=(101, 6))
    expected = np.array([wasserstein_distance(perturbed[:, g], controls[:, g]) for g in range(6)])
    np.testing.assert_allclose(
        wasserstein_gene_weights(perturbed, controls), expected / expected.sum(), rtol=1e-10
    )


def test_wd_weights_fall_back_to_uniform_when_nothing_moves():
    cells = np.random.default_rng(3).normal(size=(10, 4))
    np.testing.assert_allclose(wasserstein_gene_weights(cells, cells), np.full(4, 0.25))


def test_wd_matches_on_the_shifted_gene_and_downweights_noise_genes():
    # Gene 0 is moved by the perturbation (shifted by 3); genes 1-5 are pure noise with
    # the same distribution in both. wd must weight gene 0 and pair cells that agree on
    # it, unlike the plain nearest neighbour, which the noise genes dominate.
    rng = np.random.default_rng(4)
    controls = np.column_stack([rng.uniform(0, 10, 2000), rng.normal(size=(2000, 5))])
    perturbed = np.column_stack([rng.uniform(3, 13, 200), rng.normal(size=(200, 5))])
    controls, perturbed = controls.astype(np.float32), perturbed.astype(np.float32)

    weights = wasserstein_gene_weights(perturbed.astype(float), controls.astype(float))
    assert weights[0] > 0.7 and weights[1:].max() < 0.1

    inside = perturbed[:, 0] < 10  # cells with a control at the same gene-0 level

    def gene0_gap(matched):
        return np.abs(perturbed[inside, 0] - controls[matched[inside], 0]).mean()

    plain_nearest = ot.dist(perturbed, controls).argmin(axis=1)
    assert gene0_gap(pair_controls(perturbed, controls, "wd")) < 0.5 * gene0_gap(plain_nearest)


def test_hungarian_with_more_perturbed_cells_than_controls_assigns_in_rounds():
    rng = np.random.default_rng(5)
    controls = rng.normal(size=(10, 8)).astype(np.float32)
    source = np.concatenate([rng.permutation(10), rng.permutation(10), rng.permutation(10)[:5]])
    perturbed = controls[source] + rng.normal(scale=0.01, size=(25, 8)).astype(np.float32)
    matched = pair_controls(perturbed, controls, "hungarian")
    np.testing.assert_array_equal(matched, source)
    # Rounds are one-to-one, so the load stays balanced: every control used 2 or 3 times.
    assert set(np.bincount(matched, minlength=10)) <= {2, 3}


@pytest.mark.parametrize("method", PAIRING_METHODS)
def test_more_perturbed_cells_than_controls_gives_valid_indices(method):
    rng = np.random.default_rng(6)
    matched = pair_controls(
        rng.normal(size=(50, 5)).astype(np.float32), rng.normal(size=(7, 5)), method
    )
    assert matched.shape == (50,) and matched.min() >= 0 and matched.max() < 7


@pytest.mark.parametrize("method", PAIRING_METHODS)
def test_pairing_is_deterministic_under_a_seed(method):
    rng = np.random.default_rng(7)
    perturbed = rng.normal(size=(40, 10)).astype(np.float32)
    controls = rng.normal(size=(300, 10)).astype(np.float32)
    first = pair_controls(perturbed, controls, method, seed=3, max_controls=100)
    again = pair_controls(perturbed, controls, method, seed=3, max_controls=100)
    np.testing.assert_array_equal(first, again)


def test_subsampling_is_seeded_and_indices_point_into_the_full_pool():
    rng = np.random.default_rng(8)
    controls = rng.normal(size=(300, 6)).astype(np.float32)
    # Every control is also a perturbed cell: a kept control must be paired with itself.
    matched = pair_controls(controls, controls, "hungarian", seed=1, max_controls=50)
    kept = np.unique(matched)
    assert kept.size == 50 and kept.min() >= 0 and kept.max() < 300
    np.testing.assert_array_equal(matched[kept], kept)
    other = pair_controls(controls, controls, "hungarian", seed=2, max_controls=50)
    assert not np.array_equal(np.unique(other), kept)
    # No subsampling when the pool fits, or when max_controls is None.
    assert np.unique(pair_controls(controls, controls, "hungarian", max_controls=None)).size == 300


def test_unknown_method_is_a_config_error_naming_the_valid_ones():
    perturbed, controls, _ = _planted(n=5)
    with pytest.raises(ConfigError) as excinfo:
        pair_controls(perturbed, controls, "nearest")
    text = _message(excinfo)
    assert "'nearest'" in text and all(m in text for m in PAIRING_METHODS)


@pytest.mark.parametrize(
    "settings", [{"reg": 0.0}, {"reg": -1.0}, {"max_controls": 0}, {"max_controls": 2.5}]
)
def test_bad_settings_are_config_errors(settings):
    perturbed, controls, _ = _planted(n=5)
    with pytest.raises(ConfigError) as excinfo:
        pair_controls(perturbed, controls, "ot", **settings)
    _message(excinfo)


def test_empty_control_pool_is_an_input_error():
    with pytest.raises(InputDataError) as excinfo:
        pair_controls(np.ones((3, 4), np.float32), np.empty((0, 4), np.float32))
    assert _message(excinfo).startswith("no control cells in this split")


def test_mismatched_gene_columns_is_an_input_error():
    with pytest.raises(InputDataError) as excinfo:
        pair_controls(np.ones((3, 4), np.float32), np.ones((5, 6), np.float32))
    text = _message(excinfo)
    assert "4" in text and "6" in text


def test_non_finite_expression_is_an_input_error():
    perturbed = np.ones((3, 4), np.float32)
    perturbed[1, 2] = np.nan
    with pytest.raises(InputDataError) as excinfo:
        pair_controls(perturbed, np.ones((5, 4), np.float32))
    _message(excinfo)


def _split(seed=9):
    """A sparse split: 3 perturbation groups of 15 cells copied (with noise) from 60
    controls, rows shuffled so controls and groups interleave."""
    rng = np.random.default_rng(seed)
    genes = 12
    controls = rng.poisson(2.0, size=(60, genes)).astype(np.float32)
    controls = np.log1p(controls + rng.uniform(0, 0.5, size=controls.shape))
    sources = rng.choice(60, size=45, replace=False)
    perturbed = controls[sources] + rng.normal(scale=0.01, size=(45, genes))
    expr = np.vstack([controls, perturbed]).astype(np.float32)
    groups = np.array(["non-targeting"] * 60 + ["A"] * 15 + ["B"] * 15 + ["C"] * 15, dtype=object)
    is_control = np.arange(105) < 60
    truth = np.concatenate([np.arange(60), sources])  # matched row per row, before shuffling
    order = rng.permutation(105)
    position = np.argsort(order)  # old row -> new row
    return sp.csr_matrix(expr[order]), groups[order], is_control[order], position[truth[order]]


@pytest.mark.parametrize("method", PAIRING_METHODS)
def test_pair_all_on_sparse_matrix_picks_only_control_rows(method):
    expr, groups, is_control, truth = _split()
    matched = pair_all(expr, groups, is_control, method, seed=0)
    assert matched.shape == (expr.shape[0],)
    assert is_control[matched].all()
    np.testing.assert_array_equal(matched[is_control], np.flatnonzero(is_control))
    assert (matched == truth).mean() >= 0.9
    np.testing.assert_array_equal(
        matched, pair_all(expr.toarray(), groups, is_control, method, seed=0)
    )


def test_pair_all_hungarian_recovers_planted_pairs_and_is_deterministic():
    expr, groups, is_control, truth = _split()
    matched = pair_all(expr, groups, is_control, "hungarian", seed=5, max_controls=30)
    assert is_control[matched].all()
    np.testing.assert_array_equal(
        matched, pair_all(expr, groups, is_control, "hungarian", seed=5, max_controls=30)
    )
    np.testing.assert_array_equal(
        pair_all(expr, groups, is_control, "hungarian"), truth
    )


def test_pair_all_errors_are_one_line():
    expr, groups, is_control, _ = _split()
    with pytest.raises(InputDataError) as excinfo:
        pair_all(expr, groups, np.zeros_like(is_control), "ot")
    assert _message(excinfo).startswith("no control cells in this split")
    with pytest.raises(InputDataError) as excinfo:
        pair_all(expr, groups[:-1], is_control, "ot")
    _message(excinfo)
    with pytest.raises(ConfigError) as excinfo:
        pair_all(expr, groups, is_control, "emd")
    _message(excinfo)


def test_pair_all_with_only_controls_maps_every_cell_to_itself():
    expr = sp.random(6, 3, density=0.5, format="csr", random_state=0)
    np.testing.assert_array_equal(
        pair_all(expr, np.array(["ctrl"] * 6), np.ones(6, bool), "ot"), np.arange(6)
    )


def _treatments():
    import pandas as pd

    return pd.DataFrame({"name": ["b", "x", "a"], "measured": [True, False, True]})


def test_treatment_expression_and_delta_match_hand_computation():
    import pandas as pd

    counts = sp.csr_matrix(np.array([[1.0, 0.0, 3.0], [0.0, 4.0, 4.0], [2.0, 2.0, 0.0]],
                                    dtype=np.float32))
    space = TreatmentExpression(pd.Index(["a", "b", "c"]), _treatments())
    dense = counts.toarray()
    lognorm = np.log1p(1e4 * dense / dense.sum(1, keepdims=True))
    expected = np.column_stack([lognorm[:, 1], np.zeros(3), lognorm[:, 0]])  # b, x, a
    np.testing.assert_allclose(space.of_counts(counts).toarray(), expected, rtol=1e-6)
    controls = counts[[2, 2, 2]]
    delta = space.delta(counts, controls)
    assert delta.dtype == np.float32 and (delta[2] == 0).all() and (delta[:, 1] == 0).all()
    np.testing.assert_allclose(delta, np.abs(expected - expected[[2, 2, 2]]), rtol=1e-5)


def test_treatment_expression_rejects_mismatches():
    import pandas as pd

    with pytest.raises(InputDataError) as excinfo:
        TreatmentExpression(pd.Index(["a", "c"]), _treatments())  # b is measured but absent
    _message(excinfo)
    space = TreatmentExpression(pd.Index(["a", "b"]), _treatments())
    with pytest.raises(InputDataError) as excinfo:
        space.delta(sp.csr_matrix(np.ones((3, 2))), sp.csr_matrix(np.ones((2, 2))))
    _message(excinfo)
