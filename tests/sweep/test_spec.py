"""Sweep files: W&B's format is read and checked before any trial runs."""

from __future__ import annotations

import pytest
import yaml
from sweep_files import write_sweep

from gpo_vae.errors import ConfigError
from gpo_vae.sweep.spec import load_sweep


def _load(tmp_path, base, **overrides):
    return load_sweep(write_sweep(tmp_path / "s.yaml", base, tmp_path / "out", **overrides))


def test_a_valid_file_loads_with_its_base_config(tmp_path, base_config):
    spec = _load(tmp_path, base_config)
    assert spec.method == "grid" and spec.maximize
    assert [p.key for p in spec.parameters] == ["loss.gloss_coeff"]
    assert spec.base_config["training"]["max_steps"] == 6
    assert spec.trial_config({"loss.gloss_coeff": 7})["loss"]["gloss_coeff"] == 7
    wandb = spec.as_wandb()
    assert set(wandb) == {"name", "method", "metric", "parameters"}  # our keys stay home
    assert wandb["parameters"] == {"loss.gloss_coeff": {"values": [1, 100]}}


def test_nested_wandb_parameters_read_as_dotted_keys(tmp_path, base_config):
    spec = _load(tmp_path, base_config, parameters={
        "loss": {"parameters": {"beta": {"values": [0.1, 0.2]}}},
        "model.n_latent": {"value": 4}})
    assert [p.key for p in spec.parameters] == ["loss.beta", "model.n_latent"]
    assert [p.distribution for p in spec.parameters] == ["categorical", "constant"]


def test_distributions_are_inferred_as_wandb_does(tmp_path, base_config):
    spec = _load(tmp_path, base_config, method="random", parameters={
        "model.n_latent": {"min": 2, "max": 8}, "loss.beta": {"min": 0.0, "max": 1.0}})
    assert [p.distribution for p in spec.parameters] == ["int_uniform", "uniform"]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"parameters": {"loss.no_such_key": {"values": [1]}}},
     "'loss.no_such_key' is not a config key; valid keys in loss"),
    ({"parameters": {"nosection.beta": {"values": [1]}}}, "'nosection.beta' is not a config key"),
    ({"parameters": {"lr": {"values": [1]}}}, "'lr' is not a config key; write section.key"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "gaussian", "mu": 0,
                                                       "sigma": 1}}},
     "unknown distribution 'gaussian'"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "beta", "a": 2}}},
     "needs a and b (missing b)"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "log_uniform",
                                                       "min": 1, "max": 1000}}},
     "takes its bounds as natural logarithms"),
    ({"parameters": {"data.split": {"values": ["cells", "perturbations"]}}},
     "'data.split' cannot be swept"),
    ({"parameters": {"data.seed": {"values": [0, 1]}}}, "'data.seed' cannot be swept"),
    ({"evaluation": {"n_samples": "many"}}, "evaluation.n_samples='many' must be an integer"),
    ({"evaluation": {"n_samples": 50, "n_global": 100}},
     "evaluation: n_samples=50 must be at least 2 and at least the number of global draws"),
    ({"evaluation": {"grn_top_k": 5}}, "must be a list of integers"),
    ({"run_cap": True}, "run_cap=True must be a positive integer"),
    ({"metric": {"name": "iwelbo_val", "goal": "maximize", "summary": "max"}},
     "metric has unknown field 'summary'"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "uniform", "min": 1,
                                                       "max": 0}}}, "min=1 is above max=0"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "log_uniform_values",
                                                       "min": 0, "max": 1}}}, "needs min > 0"),
    ({"method": "random", "parameters": {"loss.beta": {"distribution": "uniform", "min": 0,
                                                       "max": 1, "mu": 3}}},
     "'mu' does not belong to distribution uniform"),
    ({"method": "random", "parameters": {"loss.beta": {"values": [1, 2],
                                                       "probabilities": [0.9, 0.9]}}},
     "probabilities must be one non-negative number per value, summing to 1"),
    ({"method": "random", "parameters": {"model.n_latent": {"distribution": "uniform",
                                                            "min": 2.5, "max": 8.5}}},
     "must be an integer"),
    ({"parameters": {"loss.beta": {"values": []}}}, "values must be a non-empty list"),
    ({"parameters": {"loss.beta": {"values": [-1]}}}, "loss.beta=-1.0 must be >= 0"),
    ({"parameters": {"loss.beta": {"distribution": "uniform", "min": 0, "max": 1}}},
     "grid search needs 'values' or 'value' for every parameter"),
    ({"parameters": {"loss.beta": 0.1}}, "parameter 'loss.beta' must be a mapping"),
    ({"parameters": {}}, "needs 'parameters:'"),
    ({"method": "hyperband"}, "method='hyperband'; choose one of grid, random, bayes"),
    ({"metric": {"name": "ate.model.pearson", "goal": "maximize"}},
     "is not an ATE metric"),
    ({"metric": {"name": "iwelbo_test", "goal": "maximize"}}, "is a test-split number"),
    ({"metric": {"name": "accuracy", "goal": "maximize"}}, "not something a trial reports"),
    ({"metric": {"name": "iwelbo_val", "goal": "up"}}, "metric.goal='up'"),
    ({"base_config": "no/such/config.yaml"}, "base_config 'no/such/config.yaml' not found"),
    ({"evaluation": {"split": "test"}}, "unknown evaluation setting 'split'"),
    ({"early_stop": True}, "unknown key 'early_stop'"),
    ({"name": "a b"}, "name='a b' must be letters"),
])
def test_bad_sweep_files_fail_with_a_clear_message(tmp_path, base_config, overrides, expected):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, base_config, **overrides)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert message.startswith("sweep file ")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_sweep(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: grid\nparameters: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_sweep(bad)
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_sweep(bad)


def test_set_overrides_reach_the_base_config(tmp_path, base_config):
    spec = load_sweep(write_sweep(tmp_path / "s.yaml", base_config, tmp_path / "out"),
                      overrides=["training.max_steps=3"])
    assert spec.base_config["training"]["max_steps"] == 3


def test_wandb_conveniences_are_accepted(tmp_path, base_config):
    """W&B's defaults (normal without bounds), YAML's 1e-5-as-text, evaluation defaults."""
    spec = _load(tmp_path, base_config, method="random", evaluation={"n_samples": 60},
                 parameters={"loss.beta": {"distribution": "normal"},
                             "training.lr": {"values": ["1e-3", "1e-2"]},
                             "model.n_latent": {"distribution": "q_uniform", "min": 2,
                                                "max": 9}})
    beta, lr, latent = spec.parameters
    assert beta.bounds == {"mu": 0.0, "sigma": 1.0}
    assert lr.values == [1e-3, 1e-2]
    assert latent.bounds["q"] == 1
    assert spec.evaluation == {"n_samples": 60, "n_global": 3}


def test_output_dir_must_be_a_path(tmp_path, base_config):
    path = write_sweep(tmp_path / "s.yaml", base_config, tmp_path / "out")
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "output_dir": 5}))
    with pytest.raises(ConfigError, match="output_dir=5 must be a folder path"):
        load_sweep(path)


@pytest.mark.parametrize("name,goal", [("ate.model.pearson_top20", "maximize"),
                                       ("iwelbo_val", "maximize"),
                                       ("train.best_val_loss", "minimize"),
                                       ("grn.truth.auprc", "maximize")])
def test_the_goal_defaults_to_the_metric_registry_and_a_contrary_goal_fails(
        tmp_path, base_config, name, goal):
    from gpo_vae.sweep.metrics import metric_goal

    assert metric_goal(name) == goal
    contrary = "minimize" if goal == "maximize" else "maximize"
    with pytest.raises(ConfigError, match=f"use goal: {goal}"):
        _load(tmp_path, base_config, metric={"name": name, "goal": contrary})
    assert _load(tmp_path, base_config, metric={"name": name}).metric_goal == goal
