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
