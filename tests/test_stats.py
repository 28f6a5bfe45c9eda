"""gpo_vae.stats against known values, scipy, pandas and scanpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import mannwhitneyu, wasserstein_distance

from gpo_vae import stats


def _counts(seed: int = 0, shape=(60, 8)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.gamma(0.5, 2.0, shape[1]), shape).astype(np.float32)


def test_wasserstein_of_shifted_samples_is_the_shift():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(50, 3))
    shift = np.array([0.5, 2.0, -3.0])
    np.testing.assert_allclose(stats.wasserstein_columns(u, u + shift), np.abs(shift))


def test_wasserstein_matches_scipy_for_unequal_sizes_sorted_or_not():
    rng = np.random.default_rng(1)
    u = np.log1p(rng.poisson(1.0, (17, 4)))
    v = np.log1p(rng.poisson(0.6, (40, 4)))
    expected = [wasserstein_distance(u[:, j], v[:, j]) for j in range(4)]
    np.testing.assert_allclose(stats.wasserstein_columns(u, v), expected, atol=1e-12)
    sorted_u, sorted_v = np.sort(u, axis=0), np.sort(v, axis=0)
    np.testing.assert_allclose(stats.wasserstein_columns(sorted_u, sorted_v, presorted=True),
                               expected, atol=1e-12)


@pytest.mark.parametrize("n_sample", [5, 30])  # exact regime, then normal approximation
def test_mann_whitney_presorted_matches_scipy(n_sample):
    rng = np.random.default_rng(n_sample)
    sample = np.sort(np.log1p(rng.poisson(1.2, (n_sample, 3))), axis=0)
    sample[:, 2] = np.sort(rng.normal(size=n_sample))  # a column without ties
    reference = np.sort(np.log1p(rng.poisson(0.8, (50, 3))), axis=0)
    reference[:, 2] = np.sort(rng.normal(0.5, 1.0, 50))
    p = stats.mann_whitney_presorted(sample, reference, stats.rank_sum_tie_terms(reference))
    for j in range(3):  # one column per call: scipy picks exact/asymptotic per column
        one = mannwhitneyu(sample[:, j], reference[:, j], alternative="two-sided").pvalue
        assert p[j] == pytest.approx(one, abs=1e-12)


def test_rank_sum_vs_reference_matches_scipy_without_continuity_correction():
    rng = np.random.default_rng(2)
    X = np.log1p(rng.poisson(0.7, (90, 6)) * rng.lognormal(0, 0.3, (90, 6)))
    codes = np.repeat([0, 1, -1], 30)
    pvals, lfc, sizes = stats.rank_sum_vs_reference(sp.csr_matrix(X), codes, 2,
                                                    sp.csr_matrix(X[60:]), chunk_nnz=50)
    assert sizes.tolist() == [30, 30]
    for k in range(2):
        expected = mannwhitneyu(X[codes == k], X[60:], method="asymptotic",
                                use_continuity=False, axis=0).pvalue
        np.testing.assert_allclose(pvals[k], expected, rtol=1e-6)
    assert lfc.shape == (2, 6)


def test_group_means_match_pandas_groupby_and_keep_the_asked_order():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(40, 5))
    labels = rng.choice(["ctrl", "a", "b"], 40)
    groups = ["b", "missing", "ctrl", "a"]
    expected = pd.DataFrame(values).groupby(labels).mean()
    counts = pd.Series(labels).value_counts()
    for matrix in (values, sp.csr_matrix(values)):
        means, n = stats.group_means(matrix, labels, groups)
        np.testing.assert_allclose(means[[0, 2, 3]], expected.loc[["b", "ctrl", "a"]])
        assert np.isnan(means[1]).all()
        assert n.tolist() == [counts["b"], 0, counts["ctrl"], counts["a"]]


def test_perturbseq_transform_numpy_sparse_and_torch_agree():
    counts = _counts()
    expected = np.log2(1 + 1e4 * counts / counts.sum(1, keepdims=True).clip(1))
    dense = stats.perturbseq_transform(counts)
    sparse = stats.perturbseq_transform(sp.csr_matrix(counts))
    torched = stats.perturbseq_transform_torch(torch.from_numpy(counts)).numpy()
    np.testing.assert_allclose(dense, expected, rtol=1e-6)
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-6)
    np.testing.assert_allclose(torched, dense, rtol=1e-5)
    assert stats.perturbseq_transform_torch(torch.zeros(2, 3)).eq(0).all()  # empty cells


def test_log_normalize_is_log1p_of_counts_per_target_sum():
    counts = _counts(4)
    expected = np.log1p(1e4 * counts / counts.sum(1, keepdims=True))
    np.testing.assert_allclose(stats.log_normalize(counts), expected, rtol=1e-5)
    sparse = stats.log_normalize(sp.csr_matrix(counts))
    assert sp.issparse(sparse)
    np.testing.assert_allclose(sparse.toarray(), expected, rtol=1e-5)


def test_log1p_per_library_uses_the_given_library_sizes():
    counts = _counts(5)
    library = counts.sum(1) + 7
    out = stats.log1p_per_library(counts, library, target_sum=100.0)
    assert sp.issparse(out) and out.dtype == np.float64
    np.testing.assert_allclose(out.toarray(), np.log1p(100.0 * counts / library[:, None]))


def test_seeded_torch_repeats_draws_and_restores_the_callers_state():
    torch.manual_seed(11)
    with stats.seeded_torch(3):
        first = torch.rand(4)
    after = torch.rand(4)
    torch.manual_seed(11)
    with stats.seeded_torch(3):
        again = torch.rand(4)
    assert torch.equal(first, again)
    assert torch.equal(after, torch.rand(4))  # as if the block had not drawn
    torch.manual_seed(3)
    assert torch.equal(first, torch.rand(4))


def test_seeded_torch_restores_the_state_after_an_error():
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError), stats.seeded_torch(0):
        torch.rand(2)
        raise RuntimeError("inside")
    assert torch.equal(state, torch.get_rng_state())
