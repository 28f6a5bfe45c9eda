"""New cells of a simulated screen under chosen interventions (the design closed loop)."""

import numpy as np
import pytest

from gpo_vae.errors import InputDataError
from gpo_vae.simulation.intervene import InterventionSimulator, config_of_screen
from gpo_vae.stats import group_means, perturbseq_transform


@pytest.fixture(scope="module")
def simulator(small_screen):
    return InterventionSimulator(small_screen.uns["simulation"])


def test_settings_round_trip_from_the_screen(small_screen):
    cfg, seed = config_of_screen(small_screen.uns["simulation"])
    assert seed == 0 and cfg.n_cells == small_screen.uns["simulation"]["n_cells"]


def test_screen_without_settings_is_a_clear_error():
    with pytest.raises(InputDataError, match="gpo-vae simulate"):
        InterventionSimulator({})


def test_cells_are_deterministic_per_seed(simulator):
    gene = simulator.perturbable[0]
    a = simulator.cells([(gene,)], n_cells=20, seed=3).X
    b = simulator.cells([(gene,)], n_cells=20, seed=3).X
    c = simulator.cells([(gene,)], n_cells=20, seed=4).X
    assert (a != b).nnz == 0 and (a != c).nnz > 0


def test_knockdown_lowers_the_targeted_gene(simulator):
    measured = [g for g in simulator.perturbable if g in simulator.gene_names][:5]
    ates = simulator.ates([(g,) for g in measured], n_cells=200, seed=1)
    own = np.array([ates.loc[g, g] for g in measured])
    assert (own < 0).all()


def test_single_gene_effects_match_the_screen(simulator, small_screen):
    """A new draw of a perturbation's cells reproduces the screen's measured effect."""
    obs = small_screen.obs
    clean = ~obs["sim_low_quality"].to_numpy() & ~obs["sim_doublet"].to_numpy() & \
        ~obs["sim_escaped"].to_numpy()
    labels = obs["gene"].astype(str).to_numpy()
    names = [g for g in simulator.perturbable if (labels[clean] == g).sum() >= 30][:8]
    genes = list(small_screen.var["gene_name"].astype(str))
    expression = perturbseq_transform(small_screen.X[clean])
    means, _ = group_means(expression, labels[clean], names + ["non-targeting"])
    screen = means[:-1] - means[-1]
    fresh = simulator.ates([(g,) for g in names], n_cells=400, seed=2)[genes].to_numpy()
    assert np.corrcoef(screen.ravel(), fresh.ravel())[0, 1] > 0.7


def test_repeated_interventions_are_simulated_once(simulator):
    g = simulator.perturbable[0]
    ates = simulator.ates([(g,), (), (g,)], n_cells=30, seed=0)
    assert list(ates.index) == [g, "non-targeting", g]
    np.testing.assert_array_equal(ates.iloc[0], ates.iloc[2])


@pytest.mark.parametrize("interventions, message", [
    ([("G_NOT_THERE",)], "not a perturbed gene"),
    ([("A", "B", "C")], "at most 2 genes"),
])
def test_bad_interventions_are_clear_errors(simulator, interventions, message):
    with pytest.raises(InputDataError, match=message):
        simulator.cells(interventions, n_cells=5)
