"""The direct treatment shifts' fits from the training data (gpo_vae.models.treatment_shifts)."""

from types import SimpleNamespace

import numpy as np

from gpo_vae.models.treatment_shifts import knockdown_prior


def test_the_knockdown_prior_is_the_own_shift_and_the_shift_along_the_slopes():
    # treatments 0, 1 measured at gene columns 0 and 1, treatment 2 unmeasured; conditions:
    # the three singles and a double
    info = SimpleNamespace(own_columns=np.array([0, 1, -1]))
    dosages = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
    slopes = np.array([[1.0, 2.0], [0.5, -1.0]])
    index = np.array([[2, 3], [3, 4]])
    rng = np.random.default_rng(0)
    shifts = rng.normal(size=(4, 5))
    pseudobulk = SimpleNamespace(dosages=dosages, shifts=shifts.astype(np.float32))
    prior = knockdown_prior(info, pseudobulk, (index, slopes))
    # the single of a measured gene: its own shift, the least-squares multiple of its
    # slopes on the downstream genes, zero elsewhere
    scale = shifts[0, [2, 3]] @ slopes[0] / (slopes[0] @ slopes[0])
    np.testing.assert_allclose(prior[0], [shifts[0, 0], 0, *(scale * slopes[0]), 0], rtol=1e-5)
    scale = shifts[1, [3, 4]] @ slopes[1] / (slopes[1] @ slopes[1])
    np.testing.assert_allclose(prior[1], [0, shifts[1, 1], 0, *(scale * slopes[1])], rtol=1e-5)
    # an unmeasured target and a combination: no prior (their own shift)
    np.testing.assert_allclose(prior[2:], shifts[2:], rtol=1e-6)
    # no downstream genes: every condition keeps its shift
    empty = (index[:, :0], slopes[:, :0])
    np.testing.assert_allclose(knockdown_prior(info, pseudobulk, empty), shifts, rtol=1e-6)


def test_the_additive_prior_fits_every_condition_and_leaves_singles_alone():
    import pytest

    from gpo_vae.data.pseudobulk import ConditionPseudobulk

    dosages = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 1]], dtype=np.float32)
    means = np.array([[1.0], [2.0], [3.6], [5.0]], dtype=np.float32)  # A, B, A+B, B+C
    pseudobulk = ConditionPseudobulk(dosages, means, np.array([10, 10, 10, 10]),
                                     np.zeros(1, np.float32), 20, np.ones(1, np.float32))
    prior = pseudobulk.additive_prior()
    # singles keep their shift; A+B is what A and B fitted over A, B and A+B give
    # (least squares: A = 1.2, B = 2.2); B+C holds C, seen nowhere else: exact, kept
    assert prior[[0, 1, 3], 0].tolist() == [1.0, 2.0, 5.0]
    assert prior[2, 0] == pytest.approx(3.4, abs=1e-5)
    # the James-Stein pull: an interaction (3.6 against 3.4) within its noise is dropped
    assert pseudobulk.shrunk_toward(prior)[2, 0] == pytest.approx(3.4, abs=1e-5)
    sharp = ConditionPseudobulk(dosages, means, np.array([10, 10, 10, 10]),
                                np.zeros(1, np.float32), 20, np.full(1, 1e-4, np.float32))
    assert sharp.shrunk_toward(sharp.additive_prior())[2, 0] == pytest.approx(3.6, abs=1e-3)
