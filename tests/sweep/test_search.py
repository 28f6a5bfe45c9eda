"""The local controller: grid order, seeded random draws inside W&B's bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sweep_files import write_sweep

from gpo_vae.errors import ConfigError
from gpo_vae.sweep.parameter import parse_parameter
from gpo_vae.sweep.search import expand_trials, sample_value
from gpo_vae.sweep.spec import load_sweep


def _spec(tmp_path, base, **overrides):
    return load_sweep(write_sweep(tmp_path / "s.yaml", base, tmp_path / "out", **overrides))


def test_grid_is_the_full_product_in_file_order_and_max_trials_cuts_it(tmp_path, base_config):
    spec = _spec(tmp_path, base_config, parameters={
        "loss.beta": {"values": [0.1, 0.2]}, "model.n_latent": {"values": [4, 8, 16]},
        "loss.hop": {"value": 2}})
    trials = expand_trials(spec)
    assert len(trials) == 6
    assert trials[0] == {"loss.beta": 0.1, "model.n_latent": 4, "loss.hop": 2}
    assert trials[-1] == {"loss.beta": 0.2, "model.n_latent": 16, "loss.hop": 2}
    assert expand_trials(spec, max_trials=2) == trials[:2]


def test_random_search_is_seeded_and_needs_a_cap(tmp_path, base_config):
    spec = _spec(tmp_path, base_config, method="random", parameters={
        "training.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "model.n_latent": {"min": 2, "max": 9}})
    first, again = expand_trials(spec, 5), expand_trials(spec, 5)
    assert first == again and len({t["training.lr"] for t in first}) == 5
    assert all(1e-4 <= t["training.lr"] <= 1e-2 for t in first)
    assert all(isinstance(t["model.n_latent"], int) and 2 <= t["model.n_latent"] <= 9
               for t in first)
    with pytest.raises(ConfigError, match="random search, which never ends"):
        expand_trials(spec)
    capped = _spec(tmp_path, base_config, method="random", run_cap=3,
                   parameters={"loss.beta": {"min": 0.0, "max": 1.0}})
    assert len(expand_trials(capped)) == 3


def test_bayes_needs_the_wandb_controller(tmp_path, base_config):
    spec = _spec(tmp_path, base_config, method="bayes",
                 parameters={"loss.beta": {"min": 0.0, "max": 1.0}})
    with pytest.raises(ConfigError, match="--controller wandb"):
        expand_trials(spec, 2)


@pytest.mark.parametrize(("spec", "low", "high"), [
    ({"distribution": "uniform", "min": -1, "max": 2}, -1, 2),
    ({"distribution": "log_uniform", "min": 0, "max": 2}, 1, math.e ** 2),
    ({"distribution": "inv_log_uniform_values", "min": 0.1, "max": 10}, 0.1, 10),
    ({"distribution": "inv_log_uniform", "min": 0, "max": 2}, math.e ** -2, 1),
    ({"distribution": "beta", "a": 2, "b": 5}, 0, 1),
    ({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2.5}, 0, 10),
    ({"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 10}, 0, 1000),
])
def test_distributions_stay_in_their_support(tmp_path, spec, low, high):
    p = parse_parameter("loss.beta", spec, tmp_path / "s.yaml")
    rng = np.random.default_rng(0)
    draws = np.array([sample_value(p, rng) for _ in range(500)])
    assert draws.min() >= low - 1e-9 and draws.max() <= high + 1e-9
    if "q" in spec:
        assert np.allclose(draws / spec["q"], np.round(draws / spec["q"]))


def test_log_uniform_values_is_uniform_in_log_space(tmp_path):
    p = parse_parameter("training.lr", {"distribution": "log_uniform_values", "min": 1e-4,
                                        "max": 1e-0}, tmp_path / "s.yaml")
    rng = np.random.default_rng(1)
    logs = np.log10([sample_value(p, rng) for _ in range(4000)])
    assert abs(np.median(logs) - (-2)) < 0.1  # the geometric middle, not the arithmetic one


def test_categorical_probabilities_are_respected(tmp_path):
    p = parse_parameter("model.n_latent", {"values": [4, 8], "probabilities": [0.9, 0.1]},
                        tmp_path / "s.yaml")
    rng = np.random.default_rng(2)
    draws = [sample_value(p, rng) for _ in range(2000)]
    assert 0.86 < draws.count(4) / len(draws) < 0.94


def test_integer_steps_give_integers_and_near_one_probabilities_work(tmp_path):
    rng = np.random.default_rng(3)
    q = parse_parameter("model.n_latent", {"distribution": "q_uniform", "min": 2, "max": 9},
                        tmp_path / "s.yaml")
    assert all(isinstance(sample_value(q, rng), int) for _ in range(20))
    p = parse_parameter("model.n_latent", {"values": [4, 8],
                                           "probabilities": [0.3333333, 0.6666666]},
                        tmp_path / "s.yaml")
    assert {sample_value(p, rng) for _ in range(50)} == {4, 8}


@pytest.mark.parametrize(("spec", "log_median"), [
    ({"distribution": "log_uniform", "min": 0, "max": 4}, 2.0),
    ({"distribution": "inv_log_uniform", "min": 0, "max": 4}, -2.0),
    ({"distribution": "inv_log_uniform_values", "min": 1, "max": math.e ** 4}, 2.0),
])
def test_log_scale_distributions_are_uniform_in_log_space(tmp_path, spec, log_median):
    p = parse_parameter("loss.beta", spec, tmp_path / "s.yaml")
    rng = np.random.default_rng(4)
    logs = np.log([sample_value(p, rng) for _ in range(4000)])
    assert abs(np.median(logs) - log_median) < 0.15
    assert abs(np.mean(logs < log_median) - 0.5) < 0.03  # symmetric in log space


def test_every_planned_trial_is_checked_before_any_runs(tmp_path, base_config):
    from gpo_vae.sweep import plan_sweep

    spec = _spec(tmp_path, base_config, method="random", parameters={
        "training.lr": {"distribution": "uniform", "min": -0.01, "max": 0.01}})
    with pytest.raises(ConfigError, match=r"trial \w+ \(training.lr=-?[\d.e-]+\) has an "
                                          r"invalid config: training.lr=.* must be positive"):
        plan_sweep(spec, max_trials=20)
