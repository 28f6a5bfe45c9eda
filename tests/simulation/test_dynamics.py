"""The steady-state solver: saturating Hill responses, propagation and feedback."""

from __future__ import annotations

import numpy as np

from gpo_vae.simulation.dynamics import SteadyState
from gpo_vae.simulation.network import GeneNetwork


def _network(edges, n, regulators):
    src, dst, w = (np.array(x) for x in zip(*edges, strict=True))
    return GeneNetwork(n_genes=n, source=src, target=dst, weight=w.astype(float),
                       feedback=np.zeros(len(edges), bool), regulators=np.array(regulators),
                       perturbed=np.array([0]), perturbed_kind=np.array(["regulator"]))


def test_control_cells_sit_at_the_control_level():
    solver = SteadyState(_network([(0, 1, 1.5), (1, 2, -1.0)], 3, [0, 1]))
    assert np.allclose(solver.solve(np.zeros((4, 3))), 0.0)


def test_knockdown_propagates_down_a_chain_with_signs():
    solver = SteadyState(_network([(0, 1, 1.5), (1, 2, -1.0)], 3, [0, 1]))
    exo = np.zeros((1, 3))
    exo[0, 0] = np.log(0.1)  # 90% knockdown of gene 0
    r = solver.solve(exo)[0]
    assert r[0] == np.log(0.1)
    assert r[1] < 0  # activated by 0: goes down
    assert r[2] > 0  # repressed by 1: goes up
    assert np.isclose(r[1], 1.5 * 0.5 * np.tanh(r[0]))
    assert np.isclose(r[2], -1.0 * 0.5 * np.tanh(r[1]))


def test_hill_response_saturates():
    solver = SteadyState(_network([(0, 1, 2.0)], 2, [0]))
    levels = np.log(np.array([1e-4, 1e-2, 0.1, 0.5]))
    exo = np.zeros((levels.size, 2))
    exo[:, 0] = levels
    r1 = solver.solve(exo)[:, 1]
    assert np.all(np.diff(r1) > 0)  # monotone in the regulator
    assert r1.min() > -1.0  # never beyond the weight/2 ceiling
    assert abs(r1[0] - r1[1]) < 0.01  # saturated: 100x less regulator, same effect


def test_feedback_loop_converges_to_a_fixed_point():
    edges = [(0, 1, 1.5), (1, 0, -0.8), (1, 2, 1.0)]
    solver = SteadyState(_network(edges, 3, [0, 1]))
    exo = np.array([[np.log(0.2), 0.0, 0.0]])
    r = solver.solve(exo)[0]
    h = lambda x: 0.5 * np.tanh(x)  # noqa: E731
    assert np.isclose(r[0], np.log(0.2) - 0.8 * h(r[1]), atol=1e-5)
    assert np.isclose(r[1], 1.5 * h(r[0]), atol=1e-5)
    assert np.isclose(r[2], 1.0 * h(r[1]), atol=1e-5)
