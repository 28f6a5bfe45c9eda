import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gpo_vae.stats.grn import (
    correlation_scores,
    direct_shift_scores,
    direct_shifts_from_cells,
    interventional_regression_scores,
    mean_shift_scores,
    shift_standard_errors,
)


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
    # a sparse matrix gives the same scores (it is never made dense)
    sparse = mean_shift_scores(sp.csr_matrix(np.where(x > 0, x, 0)), ["A", "B", "C"], labels,
                               "ctrl", ["A", "B", "C", "D"], signed=True)
    dense = mean_shift_scores(np.where(x > 0, x, 0), ["A", "B", "C"], labels, "ctrl",
                              ["A", "B", "C", "D"], signed=True)
    np.testing.assert_allclose(sparse.to_numpy(), dense.to_numpy(), atol=1e-12)
    control = np.where(x > 0, x, 0)[labels == "ctrl", 1]
    by_hand = (np.where(x > 0, x, 0)[labels == "A", 1].mean() - control.mean()) / control.std()
    assert dense.loc["A", "B"] == pytest.approx(by_hand)


def test_correlation_is_symmetric_absolute_and_zero_for_constant_genes():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    x = np.column_stack([a, -a + 0.1 * rng.normal(size=500), np.ones(500)])
    scores = correlation_scores(x, ["A", "B", "C"], ["A", "B", "C", "D"])
    assert scores.loc["A", "B"] == pytest.approx(scores.loc["B", "A"])
    assert scores.loc["A", "B"] > 0.95
    assert (scores["C"] == 0).all() and (scores["D"] == 0).all()


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
    for noise, seed in [(0.0, 0), (0.05, 1), (0.05, 2)]:
        shifts = _chain_shifts(noise, seed)
        direct = direct_shift_scores(shifts)
        assert min(direct.loc["a", "b"], direct.loc["b", "c"]) > direct.loc["a", "c"]
        # the mean shift alone cannot tell: a -> c is as large as a real edge
        assert shifts.abs().loc["a", "c"] > 0.5
    assert direct_shift_scores(_chain_shifts()).loc["a", "c"] == pytest.approx(0.0)


def test_shrinking_stops_a_noise_path_from_explaining_a_real_edge_away():
    # a -> c is real (shift 1); a barely moves b (0.1, noise) and b moves c strongly (own
    # knockdown -1, shift on c -1): unshrunk, the path a -> b -> c "explains" a -> c
    t = pd.DataFrame([[-2.0, 0.1, 1.0], [0.0, -1.0, -10.0], [0.0, 0.0, -2.0]],
                     index=list("abc"), columns=list("abc"))
    assert direct_shift_scores(t).loc["a", "c"] == pytest.approx(0.0)
    shrunk = direct_shift_scores(t, np.array([0.15, 0.15, 0.15]))
    assert shrunk.loc["a", "c"] == pytest.approx(1.0)          # the 0.1 is within noise
    assert shrunk.loc["b", "c"] == pytest.approx(10.0)


def test_standard_errors_follow_the_cell_counts():
    labels = np.array(["ctrl"] * 100 + ["a"] * 25 + ["b"] * 4)
    se = shift_standard_errors(labels, "ctrl", ["a", "b", "c"])
    assert se[0] == pytest.approx(np.sqrt(1 / 25 + 1 / 100))
    assert se[1] > se[0] and np.isinf(se[2])                  # c has no cells


def _chain_cells(seed: int = 0, n: int = 400):
    """Cells of a linear chain a -> b -> c (weights 0.8 and -0.7, unit noise), with
    control cells and each gene knocked down by 2 in its own cells."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["ctrl", "a", "b", "c"], n)
    knock = {g: -2.0 * (labels == g) for g in "abc"}
    a = rng.normal(size=labels.size) + knock["a"]
    b = 0.8 * a + rng.normal(size=labels.size) + knock["b"]
    c = -0.7 * b + rng.normal(size=labels.size) + knock["c"]
    return np.column_stack([a, b, c]), labels


def test_cell_level_direct_scores_rank_the_chain_edges_above_the_two_step_path():
    for seed in range(3):
        x, labels = _chain_cells(seed)
        signed, direct = direct_shifts_from_cells(x, list("abc"), labels, "ctrl", list("abc"))
        assert signed.abs().loc["a", "c"] > 0.5               # the mean shift cannot tell
        assert min(direct.loc["a", "b"], direct.loc["b", "c"]) > direct.loc["a", "c"]


def test_interventional_regression_recovers_the_chain():
    x, labels = _chain_cells(0)
    scores = interventional_regression_scores(x, list("abc"), labels, list("abc"))
    assert scores.loc["a", "b"] > 0.3 and scores.loc["b", "c"] > 0.3
    assert scores.loc["a", "c"] < 0.05                        # c depends on a only through b
    assert (np.diag(scores) == 0).all()
    unmeasured = interventional_regression_scores(x[:, :2], list("ab"), labels, list("abc"))
    assert (unmeasured["c"] == 0).all() and (unmeasured.loc["c"] == 0).all()


def _broadcast_reference(t: np.ndarray, se: np.ndarray, shrink: float = 2.0) -> np.ndarray:
    """The direct shift written as one (a, b, c) broadcast (O(T^3) memory)."""
    soft = lambda x, n: np.sign(x) * np.maximum(np.abs(x) - n, 0)  # noqa: E731
    own = np.diag(t)
    first, second = soft(t, se[:, None]), soft(t, shrink * se[:, None])
    strong = np.abs(own) > shrink * se
    step = np.where(strong[:, None], second / np.where(own != 0, own, 1)[:, None], 0)
    off = t.copy()
    for m in (off, first, step):
        np.fill_diagonal(m, 0)
    through = first[:, :, None] * step[None]
    best = np.take_along_axis(through, np.abs(through).argmax(1)[:, None, :], 1)[:, 0]
    out = np.abs(off - best)
    np.fill_diagonal(out, 0)
    return out


def test_direct_shift_loop_equals_the_broadcast_formula():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(12, 12))
    np.fill_diagonal(t, rng.uniform(-3, -0.05, size=12))     # some knockdowns within noise
    se = rng.uniform(0.05, 0.3, size=12)
    frame = pd.DataFrame(t, index=list("abcdefghijkl"), columns=list("abcdefghijkl"))
    np.testing.assert_allclose(direct_shift_scores(frame, se).to_numpy(),
                               _broadcast_reference(t, se))


def test_a_knockdown_within_noise_explains_nothing():
    # b's own knockdown (-0.1) is within 2 standard errors: dividing by it would make the
    # path a -> b -> c "explain" anything; it must be ignored, not blow a -> c up
    t = pd.DataFrame([[-2.0, 1.0, 0.0], [0.0, -0.1, 0.5], [0.0, 0.0, -2.0]],
                     index=list("abc"), columns=list("abc"))
    scores = direct_shift_scores(t, np.array([0.1, 0.1, 0.1]))
    assert scores.loc["a", "c"] == pytest.approx(0.0)
    assert scores.loc["a", "b"] == pytest.approx(1.0)
    assert (np.diag(scores) == 0).all()
