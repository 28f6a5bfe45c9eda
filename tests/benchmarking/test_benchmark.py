"""The benchmark end to end on the small simulated screen (one epoch per trained run)."""

import pandas as pd
import pytest

from gpo_vae.benchmarking import plan_benchmark, run_benchmark
from gpo_vae.benchmarking.registry import METHODS, MethodOutput, register_method
from gpo_vae.cli import main
from gpo_vae.errors import ConfigError, GpoVaeError
from gpo_vae.evaluation.metrics import ATE_METRICS

pytestmark = pytest.mark.integration


def test_two_methods_two_seeds_end_to_end_from_the_command_line(benchmark_config, tmp_path,
                                                                capsys):
    out = tmp_path / "bench"
    code = main(["benchmark", str(benchmark_config()), "--methods", "gpo_vae", "pert_mean",
                 "--seeds", "2", "--jobs", "2", "--out", str(out), "--n-samples", "100",
                 "--iwelbo-particles", "3", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| GPO-VAE (anchored default) | 2 |" in printed and "split-half ceiling" in printed
    table = pd.read_csv(out / "benchmark.csv")
    model = table[table["method"] == "gpo_vae"]
    assert set(model["seed"]) == {0, 1} and set(table["method"]) == \
        {"gpo_vae", "pert_mean", "ceiling_split_half", "ceiling_noise_free"}
    assert set(ATE_METRICS) | {"iwelbo_test"} == set(model["metric"])
    assert (table["status"] == "ok").all() and model["value"].notna().all()
    for name in ("benchmark.md", "benchmark.json", "per_perturbation.csv", "commands.txt",
                 "plots/metrics_by_method.png",
                 "plots/per_perturbation_gpo_vae_vs_pert_mean.png"):
        assert (out / name).is_file(), name
    commands = (out / "commands.txt").read_text()
    assert "gpo-vae benchmark" in commands and "training.seed=1" in commands
    # a rerun reuses every job's stored predictions and gives the same numbers
    import gpo_vae as gv

    again = gv.benchmark(benchmark_config(), methods=["gpo_vae", "pert_mean"], seeds=2,
                         jobs=1, out=out, n_samples=100, iwelbo_particles=3)
    key = ["method", "seed", "metric"]
    pd.testing.assert_series_equal(
        again.table.sort_values(key)["value"].reset_index(drop=True),
        table.sort_values(key)["value"].reset_index(drop=True))


def _settings():
    from gpo_vae.evaluation.settings import EvaluationSettings

    return EvaluationSettings(n_samples=100, n_global=5, iwelbo_particles=3)


def test_a_method_that_fails_on_one_seed_is_reported_and_the_others_go_on(benchmark_config,
                                                                           tmp_path):
    from gpo_vae.evaluation import baselines

    @register_method("flaky_test", "flaky", "fails on seed 1, crashes on seed 2",
                     trains=True)
    def flaky(job):
        if job.seed == 1:
            raise GpoVaeError("the loss became NaN at step 3")
        if job.seed == 2:
            raise RuntimeError("a bug")
        return MethodOutput(baselines.pert_mean_baseline(
            __import__("gpo_vae.benchmarking.data", fromlist=["x"]).BenchmarkData.from_config(
                job.config(), job.settings).train, job.names))
    try:
        plan = plan_benchmark(benchmark_config(), method_names=["flaky_test", "global_mean"],
                              n_seeds=3, jobs=1, out=tmp_path / "b", settings=_settings())
        result = run_benchmark(plan)
    finally:
        METHODS.pop("flaky_test")
    status = {(r.method, r.seed): r.status for r in result.results}
    assert status[("flaky_test", 0)] == "ok" and status[("global_mean", 0)] == "ok"
    assert status[("flaky_test", 1)] == status[("flaky_test", 2)] == "failed"
    assert "the loss became NaN at step 3" in result.markdown
    assert "RuntimeError: a bug" in result.markdown
    assert "a bug" in (tmp_path / "b/runs/split0/flaky_test/seed2/log.txt").read_text()
    assert result.summary.by_method["flaky_test"]["pearson_top20"].n_failed == 2


def test_bad_benchmark_input_is_a_one_line_error(benchmark_config, tmp_path, capsys):
    config = benchmark_config()
    assert main(["benchmark", str(config), "--methods", "nope"]) != 0
    assert capsys.readouterr().err.strip().startswith("error: unknown method 'nope'")
    with pytest.raises(ConfigError, match="seeds=0"):
        plan_benchmark(config, n_seeds=0)
    missing = tmp_path / "missing.h5ad"
    assert main(["benchmark", str(config), "--set", f"data.path={missing}"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    assert not (tmp_path / "results").exists()     # nothing written
