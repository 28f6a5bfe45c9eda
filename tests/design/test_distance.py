"""The design distances: 0 for a perfect match, 1 for no effect, scale behaviour."""

from __future__ import annotations

import pytest
import torch

from gpo_vae.design import DISTANCES, get_distance
from gpo_vae.errors import ConfigError

TARGET = torch.tensor([1.0, -0.5, 0.0, 2.0])


@pytest.mark.parametrize("name", list(DISTANCES))
def test_a_perfect_prediction_is_at_distance_zero(name):
    assert float(get_distance(name)(TARGET, TARGET)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", list(DISTANCES))
def test_doing_nothing_is_at_distance_one(name):
    assert float(get_distance(name)(torch.zeros(4), TARGET)) == pytest.approx(1.0)


def test_pearson_ignores_scale_and_mse_does_not():
    half = 0.5 * TARGET
    assert float(get_distance("pearson")(half, TARGET)) == pytest.approx(0.0, abs=1e-6)
    assert float(get_distance("mse")(half, TARGET)) == pytest.approx(0.25)
    assert float(get_distance("mix")(half, TARGET)) == pytest.approx(0.125)
    assert float(get_distance("pearson")(-TARGET, TARGET)) == pytest.approx(2.0)


def test_distances_work_on_batches_and_are_differentiable():
    predicted = torch.randn(3, 5, 4, requires_grad=True)
    out = get_distance("mix")(predicted, TARGET)
    assert out.shape == (3, 5)
    out.sum().backward()
    assert torch.isfinite(predicted.grad).all()


def test_an_unknown_distance_names_the_choices():
    with pytest.raises(ConfigError, match="mix, pearson, mse"):
        get_distance("cosine")
