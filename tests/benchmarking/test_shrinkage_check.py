"""benchmarks/shrinkage_check.py: the model-free pooling rules for seen perturbations."""

import numpy as np
import pytest
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def check():
    return load_script("shrinkage_check")


def test_toward_the_knockdown_keeps_big_departures_and_unmeasured_targets(check):
    rng = np.random.default_rng(0)
    # 400 cells x 6 genes: gene 1 follows gene 0 (slope 2), the rest is noise
    driver = rng.normal(size=400)
    expression = rng.normal(scale=0.1, size=(400, 6))
    expression[:, 0] += driver
    expression[:, 1] += 2 * driver
    groups = [np.arange(400) < 20, (np.arange(400) >= 20) & (np.arange(400) < 40)]
    control = np.arange(400) >= 40
    shifts = check.Shifts(expression, groups, control)
    shifts.values = np.array([[-1.0, -2.0, 0.01, 3.0, 0, 0], [-1.0, -2.0, 0.01, 3.0, 0, 0]])
    out = check.toward_knockdown(shifts, expression, np.array([0, -1]), top_k=5)
    # the measured target: own gene kept, its follower on the prior (the shift lies on
    # the slope), a departure within the noise dropped, one far above it nearly kept
    assert out[0, 0] == pytest.approx(-1.0) and out[0, 1] == pytest.approx(-2.0, rel=0.05)
    assert abs(out[0, 2]) < 0.01 and out[0, 3] == pytest.approx(3.0, rel=0.05)
    np.testing.assert_array_equal(out[1], shifts.values[1])   # unmeasured target: its mean
