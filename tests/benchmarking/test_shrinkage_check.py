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


@pytest.mark.integration
def test_the_combination_check_scores_own_means_the_fit_and_the_pull(check, tmp_path):
    import gpo_vae as gv
    from gpo_vae.simulation import SimulationConfig, simulate_perturbseq

    screen = simulate_perturbseq(config=SimulationConfig(
        n_cells=2_000, n_genes=200, n_perturbations=8, n_extra_regulators=8,
        double_fraction=0.4, n_double_pairs=6), seed=3)
    path = tmp_path / "prepared.h5ad"
    gv.prepare(screen, preset="simulated", knockdown_filter=False).write_h5ad(path)
    rows = check.check_combinations(str(path))
    table = [r for r in rows if r.startswith("| single") or r.startswith("| combination")]
    assert len(table) == 6                       # 3 methods x (singles, combinations)
    assert all(r.split(" | ")[1] in ("own mean", "additive fit", "pulled toward the fit")
               for r in table)
    assert sum("| - |" in r for r in table) == 2  # the own mean is the reference
