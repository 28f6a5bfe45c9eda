"""Run a planned benchmark and write its results: ``benchmark.csv`` (one row per method x
seed x metric), ``per_perturbation.csv``, ``benchmark.md`` (the table, the verdicts and
the commands), ``benchmark.json``, ``commands.txt`` and ``plots/``. Each file is written
atomically, ``benchmark.json`` last, so a killed run leaves no half-written table."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gpo_vae.benchmarking.runner import (
    CEILING_METHOD,
    CEILINGS,
    BenchmarkPlan,
    JobResult,
    benchmark_lock,
    execute,
)
from gpo_vae.benchmarking.summary import (
    BenchmarkSummary,
    long_table,
    markdown,
    per_perturbation,
    summarize,
    to_dict,
)
from gpo_vae.errors import GpoVaeError

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkResult:
    """What a benchmark found and where it wrote it."""

    plan: BenchmarkPlan
    results: list[JobResult]
    summary: BenchmarkSummary
    table: pd.DataFrame              # benchmark.csv
    markdown: str                    # benchmark.md
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def run_benchmark(plan: BenchmarkPlan, *, force: bool = False) -> BenchmarkResult:
    """Run ``plan`` (:func:`gpo_vae.benchmarking.plan_benchmark`), write its results into
    ``plan.out`` and return them. Raises :class:`~gpo_vae.errors.GpoVaeError` when no
    method could be scored at all; single failed runs are reported, not raised.
    ``plan.out`` holding anything but benchmark output is refused unless ``force``
    (:mod:`gpo_vae.outputs`); a rerun into its own folder reuses finished runs."""
    from gpo_vae.io import atomic_path, json_safe, write_json_atomic, write_text_atomic
    from gpo_vae.outputs import check_output_folder, mark_output_folder

    check_output_folder(plan.out, "benchmark", plan.out, what="the benchmark folder",
                        force=force)
    mark_output_folder(plan.out, "benchmark", plan.out)

    start = time.perf_counter()
    labels = {m.name: m.label for m in plan.methods} | CEILINGS
    trained = {m.name for m in plan.methods if m.trains}
    reference = next((m.name for m in plan.methods if m.trains), plan.methods[0].name)
    with benchmark_lock(plan.out):
        logger.info(f"benchmark of {', '.join(m.name for m in plan.methods)} with "
            f"{len(plan.seeds)} seed(s) x {plan.n_splits} split(s); {plan.jobs} job(s) at "
            f"once; runs in {plan.out / 'runs'}")
        results = execute(plan)
        if all(r.scores is None for r in results if r.method not in CEILINGS):
            raise GpoVaeError("no method could be scored: "
                              + "; ".join(f"{r.method}: {r.error}" for r in results
                                          if r.error) + f" (logs in {plan.out / 'runs'})")
        summary = summarize(results, labels, trained, reference)
        table = long_table(results, labels)
        commands = [plan.command()] + [c for r in results for c in r.commands]
        header = _header(plan, results)
        text = markdown(summary, header, [plan.command()])
        files = {}
        out = plan.out
        with atomic_path(out / "benchmark.csv") as tmp:
            table.to_csv(tmp, index=False)
        files["csv"] = out / "benchmark.csv"
        with atomic_path(out / "per_perturbation.csv") as tmp:
            per_perturbation(results).to_csv(tmp, index=False)
        files["per_perturbation"] = out / "per_perturbation.csv"
        files["markdown"] = write_text_atomic(out / "benchmark.md", text)
        files["commands"] = write_text_atomic(out / "commands.txt", "\n".join(
            ["# the benchmark, then the command lines behind each trained run"] + commands)
            + "\n")
        files.update(_plots(summary, results, labels, out / "plots"))
        seconds = round(time.perf_counter() - start, 1)
        files["json"] = write_json_atomic(out / "benchmark.json", json_safe(
            {**to_dict(summary), "command": plan.command(), "seconds": seconds,
             "seeds": plan.seeds, "n_splits": plan.n_splits}))
    return BenchmarkResult(plan, results, summary, table, text, seconds, files)


def benchmark(config: str | os.PathLike, *, methods: list[str] | None = None,
              seeds: int = 3, split: str | None = None, splits: int = 1,
              out: str | os.PathLike | None = None, jobs: int | None = None,
              overrides: list[str] | None = None, n_samples: int = 1000,
              iwelbo_particles: int = 20, seed: int = 0, executor: str = "local",
              redun_config: str | os.PathLike | None = None,
              force: bool = False) -> BenchmarkResult:
    """Benchmark methods on a screen, as ``gpo-vae benchmark CONFIG`` does.

    Parameters
    ----------
    config
        A YAML config: the screen (``data``) and what every trained method uses (layers,
        ``training`` budget).
    methods
        Registered method names (``gpo_vae.benchmarking.METHODS``; default all built-in).
    seeds
        Model seeds per trained method; the data split stays fixed.
    split
        ``cells``, ``perturbations`` or ``combinations`` (default: the config's).
    splits
        Data splits to repeat over (``data.seed`` + 0..K-1).
    out
        The benchmark folder (default ``<output_dir>/benchmark_<name>``); a rerun reuses
        its finished runs.
    jobs
        Trained runs at once in worker processes; 1 runs all in this process (needed for
        a trained method registered in a notebook).
    overrides
        ``section.key=value`` settings for every method.
    n_samples, iwelbo_particles, seed
        Generated cells per perturbation for model ATEs, importance samples of the test
        IWELBO, and the sampling and bootstrap seed.
    executor, redun_config
        Where the trained runs go (:mod:`gpo_vae.jobs`): ``local`` (a pool of ``jobs``
        processes), or an executor of a redun config file (a cluster).
    force
        Write into an ``out`` that holds files other than benchmark output (refused
        otherwise, :mod:`gpo_vae.outputs`).

    Returns
    -------
    BenchmarkResult
        ``.table`` (``benchmark.csv``), ``.summary``, ``.markdown`` and ``.files``.

    Examples
    --------
    >>> import gpo_vae as gv
    >>> result = gv.benchmark("demo/gpo_vae_demo.yaml", methods=["gpo_vae", "pert_mean"],
    ...                       seeds=2)                                  # doctest: +SKIP
    >>> print(result.markdown)                                          # doctest: +SKIP
    """
    from gpo_vae.benchmarking.runner import plan_benchmark
    from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws

    settings = EvaluationSettings(n_samples=n_samples, n_global=default_global_draws(n_samples),
                                  iwelbo_particles=iwelbo_particles, seed=seed)
    plan = plan_benchmark(config, method_names=methods, n_seeds=seeds, split=split,
                          n_splits=splits, out=out, jobs=jobs, overrides=overrides,
                          settings=settings, executor=executor, redun_config=redun_config)
    return run_benchmark(plan, force=force)


def _header(plan: BenchmarkPlan, results: list[JobResult]) -> list[str]:
    n = {r.split: len(r.scores) for r in results if r.method == CEILING_METHOD}
    return [f"# Benchmark: {plan.config_path}",
            "", f"Test-set ATE prediction (split kind: {plan.split or 'as in the config'}; "
            f"{', '.join(f'data split {k}: {v} perturbations' for k, v in n.items())}); "
            f"{len(plan.seeds)} model seed(s) per trained method, data split fixed per "
            "split. Scored on held-out test cells only; every method trains or fits on "
            "training cells only."]


def _plots(summary, results, labels, folder: Path) -> dict[str, Path]:
    from gpo_vae.benchmarking.plots import plot_metrics_by_method, plot_reference_vs_baseline

    scores = per_perturbation(results)
    files = {"metrics_plot": plot_metrics_by_method(summary, scores,
                                                    folder / "metrics_by_method.png")}
    reference = summary.reference
    others = [m for m in summary.methods if m != reference and m not in CEILINGS
              and "pearson_top20" in summary.by_method[m]]
    if reference in summary.by_method and others:
        best = max(others, key=lambda m: summary.by_method[m]["pearson_top20"].mean)
        files["scatter"] = plot_reference_vs_baseline(
            scores, reference, best, labels, folder / f"per_perturbation_{reference}_vs_"
            f"{best}.png")
    return files
