import pytest

from gpo_vae.benchmarking.runner import DEFAULT_METHODS, plan_benchmark
from gpo_vae.errors import ConfigError, InputFileError


def test_a_plan_checks_its_input_and_names_each_data_split(benchmark_config, tmp_path):
    config = benchmark_config(data={"seed": 4})
    plan = plan_benchmark(config, n_splits=3, split="perturbations",
                          overrides=["training.lr=0.001"])
    assert [m.name for m in plan.methods] == list(DEFAULT_METHODS)
    assert plan.seeds == [0, 1, 2] and plan.out == tmp_path / "results" / "benchmark_bench"
    assert plan.split_overrides(0) == ["training.lr=0.001", "data.split=perturbations",
                                   "data.seed=4"]
    assert plan.split_overrides(2)[-1] == "data.seed=6"
    assert "--split perturbations" in plan.command() and "--set training.lr=0.001" in plan.command()
    single = plan_benchmark(config, method_names=["pert_mean"], n_seeds=1)
    assert single.split_overrides(0) == [] and single.jobs == 1
    with pytest.raises(ConfigError, match="split='genes'"):
        plan_benchmark(config, split="genes")
    with pytest.raises(ConfigError, match="jobs=0"):
        plan_benchmark(config, jobs=0)
    # the trained runs go through the one job runner: a cluster executor must be defined
    with pytest.raises(ConfigError, match=r"^executor='k8s' is not defined"):
        plan_benchmark(config, executor="k8s")
    with pytest.raises(InputFileError, match="does not exist"):
        plan_benchmark(config, overrides=[f"data.path={tmp_path / 'none.h5ad'}"])
