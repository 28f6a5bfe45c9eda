"""Scoring interventions on the simulator that made the data (no model involved)."""

import numpy as np
import pytest

from gpo_vae.design import DesignTarget
from gpo_vae.design.closed_loop import simulated_distances, simulation_settings
from gpo_vae.errors import InputDataError
from gpo_vae.simulation.intervene import InterventionSimulator


@pytest.fixture(scope="module")
def simulator(small_screen):
    return InterventionSimulator(small_screen.uns["simulation"])


def test_the_intervention_behind_a_target_scores_best(simulator):
    """A target drawn from one intervention's cells is closest to that intervention."""
    genes = simulator.perturbable[:6]
    hidden = (genes[2],)
    truth = simulator.ates([hidden], n_cells=400, seed=50).iloc[0]
    target = DesignTarget(truth, "hidden", "lfc")
    distances = simulated_distances(simulator, [(g,) for g in genes], target, "mix",
                                    n_cells=300, seed=1)
    assert int(np.argmin(distances)) == 2
    again = simulated_distances(simulator, [(g,) for g in genes], target, "mix",
                                n_cells=300, seed=1)
    np.testing.assert_array_equal(distances, again)      # deterministic for a fixed seed


def test_settings_come_from_prepared_data(small_prepared):
    assert simulation_settings(small_prepared)["seed"] == 0


def test_data_not_simulated_is_a_clear_error(small_prepared):
    copy = small_prepared.copy()
    del copy.uns["simulation"]
    with pytest.raises(InputDataError, match="gpo-vae simulate"):
        simulation_settings(copy, config=None)
