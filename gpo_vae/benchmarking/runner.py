"""``gpo-vae benchmark``: every method on the same prepared data and splits, with seeds.

Jobs are a flat list (one per method, seed and data split). Model-free methods run in
this process; trained ones through the one job runner (:mod:`gpo_vae.jobs`, on redun):
``jobs`` local worker processes, each with its share of the cores, or a cluster executor
of a redun config file. A job folder's own config says whether its run can be reused. Every job's
predictions are kept in its folder (``runs/split<k>/<method>/seed<s>/``) and reused by a
rerun with the same settings; a trained run is reused, or resumed when interrupted. A
job that fails is recorded as failed, with its error, and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gpo_vae.benchmarking.registry import Method, MethodJob, MethodOutput, methods
from gpo_vae.constants import SPLIT_KINDS
from gpo_vae.errors import ConfigError, GpoVaeError, InputFileError
from gpo_vae.evaluation.settings import EvaluationSettings
from gpo_vae.jobs import LOCAL_EXECUTOR, run_jobs
from gpo_vae.jobs import redun_config as check_executor
from gpo_vae.progress import job_log
from gpo_vae.progress import progress as progress_bar

logger = logging.getLogger(__name__)

DEFAULT_METHODS = ("gpo_vae", "gpo_vae_authors", "sams_vae", "sams_vae_anchored",
                   "pert_mean", "global_mean", "ridge", "additive", "additive_fit")
CEILING_METHOD = "ceiling_split_half"
#: The ceilings reported beside the methods (never compared with them): the split-half
#: agreement of the test cells, and the Pearson a noise-free predictor would reach
#: (Spearman-Brown; see :mod:`gpo_vae.evaluation.baselines`).
CEILINGS = {CEILING_METHOD: "split-half ceiling",
            "ceiling_noise_free": "noise-free ceiling (Pearson)"}
PREDICTION_FILE = "predicted_ates.csv.gz"
JOB_LOG = "log.txt"                       # what a job did (a job_log file)
RESULT_FILE = "result.json"


@dataclass
class BenchmarkPlan:
    """What a benchmark runs: the config, methods, seeds and data splits, and where."""

    config_path: str
    overrides: list[str]
    methods: list[Method]
    seeds: list[int]
    n_splits: int
    split: str | None
    out: Path
    jobs: int
    settings: EvaluationSettings
    base_data_seed: int = 0
    executor: str = "local"              # redun executor of the trained jobs
    redun_config: str | None = None      # a redun config file defining more executors

    def split_overrides(self, k: int) -> list[str]:
        """The config overrides of data split ``k``: the split kind, and for K > 1 splits
        ``data.seed`` = the config's seed + k (the model seed varies separately)."""
        extra = [f"data.split={self.split}"] if self.split else []
        if self.n_splits > 1:
            extra.append(f"data.seed={self.base_data_seed + k}")
        return [*self.overrides, *extra]

    def command(self) -> str:
        """The ``gpo-vae benchmark`` command line of this plan."""
        import shlex

        parts = ["gpo-vae", "benchmark", shlex.quote(self.config_path), "--methods",
                 *[m.name for m in self.methods], "--seeds", str(len(self.seeds)),
                 "--splits", str(self.n_splits), "--out", shlex.quote(str(self.out)),
                 "--n-samples", str(self.settings.n_samples), "--iwelbo-particles",
                 str(self.settings.iwelbo_particles)]
        if self.split:
            parts += ["--split", self.split]
        if self.executor != "local":
            parts += ["--executor", self.executor]
        if self.redun_config:
            parts += ["--redun-config", shlex.quote(self.redun_config)]
        parts += [f"--set {shlex.quote(s)}" for s in self.overrides]
        return " ".join(parts)


def plan_benchmark(config_path: str | os.PathLike, *, method_names: list[str] | None = None,
                   n_seeds: int = 3, split: str | None = None, n_splits: int = 1,
                   out: str | os.PathLike | None = None, jobs: int | None = None,
                   overrides: list[str] | None = None,
                   settings: EvaluationSettings | None = None, executor: str = "local",
                   redun_config: str | os.PathLike | None = None) -> BenchmarkPlan:
    """Check everything a benchmark needs before it starts (one-line errors) and plan it.

    Parameters
    ----------
    config_path
        The YAML config every method trains or fits with (its data section says which
        screen; its training section the budget of the trained methods).
    method_names
        Registered methods (:data:`gpo_vae.benchmarking.registry.METHODS`); default
        :data:`DEFAULT_METHODS` (``additive`` only where combinations are scored).
    n_seeds
        Model seeds 0..n_seeds-1 of each trained method (the data split stays fixed).
    split
        ``cells``, ``perturbations`` or ``combinations``; default the config's.
    n_splits
        Data splits (``data.seed`` + 0..K-1), each with every method and seed.
    out
        The benchmark folder; default ``<output_dir>/benchmark_<name>``.
    jobs
        Trained jobs at once (worker processes); 1 runs everything in this process.
    overrides
        ``section.key=value`` settings on top of the config.
    settings
        Sampling of the model ATEs and the IWELBO (test split).
    executor, redun_config
        The redun executor of the trained jobs (:mod:`gpo_vae.jobs`), and a redun config
        file defining executors beyond ``local``.
    """
    from gpo_vae.config import load_config

    overrides = list(overrides or [])
    config = load_config(config_path, overrides)
    if n_seeds < 1 or n_splits < 1:
        raise ConfigError(f"seeds={n_seeds} and splits={n_splits} must be at least 1")
    if split is not None and split not in SPLIT_KINDS:
        raise ConfigError(f"split={split!r}; choose one of {', '.join(SPLIT_KINDS)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs={jobs} must be at least 1")
    chosen = methods(list(method_names) if method_names else list(DEFAULT_METHODS))
    if not config.data.path:
        raise ConfigError(f"data.path is not set in {config_path}; point it at the screen")
    if not Path(config.data.path).is_file():
        raise InputFileError(f"data.path {config.data.path!r} (from {config_path}) does not "
                             "exist; fix the config or simulate it first (gpo-vae simulate)")
    settings = (settings or EvaluationSettings()).validate()
    if settings.split != "test":
        raise ConfigError("a benchmark scores the test split; the validation split is for "
                          "choosing settings")
    n_trained = sum(m.trains for m in chosen) * n_seeds * n_splits
    jobs = jobs or max(1, min(os.cpu_count() or 1, n_trained, 4))
    out = Path(out) if out is not None else Path(config.output_dir) / f"benchmark_{config.name}"
    if executor != LOCAL_EXECUTOR or redun_config is not None:
        check_executor(out, jobs, executor, redun_config)     # before any work
    return BenchmarkPlan(str(config_path), overrides, chosen, list(range(n_seeds)), n_splits,
                         split, out, jobs, settings, config.data.seed, executor,
                         None if redun_config is None else str(redun_config))


@dataclass
class JobResult:
    """One method x seed x split: its status, its per-perturbation scores and extras."""

    split: int
    method: str
    seed: int
    status: str                      # ok, failed, skipped
    error: str | None = None
    scores: pd.DataFrame | None = None   # perturbations x metrics
    extras: dict = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def _job_key(job: MethodJob, method: Method) -> str:
    """What a job's stored prediction depends on."""
    from gpo_vae.config import dump_config

    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(job.settings).items()}
    key = {"method": method.name, "seed": job.seed, "names": job.names,
           "config": dump_config(job.config()), "settings": settings}
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def run_job(method: Method, job: MethodJob) -> tuple[str, MethodOutput | None, str | None]:
    """Run one job, or read its stored prediction; returns (status, output, error)."""
    from gpo_vae.io import atomic_path, write_json_atomic

    folder = job.folder
    folder.mkdir(parents=True, exist_ok=True)
    key = _job_key(job, method)
    stored, predicted = folder / RESULT_FILE, folder / PREDICTION_FILE
    if stored.is_file() and predicted.is_file():
        record = json.loads(stored.read_text())
        if record.get("key") == key:
            ates = pd.read_csv(predicted, index_col=0)
            return "ok", MethodOutput(ates, record.get("extras", {})), None
    with job_log(folder / JOB_LOG):     # parallel jobs would interleave on one terminal
        try:
            output = method.run(job)
        except GpoVaeError as exc:
            logger.info(f"failed: {exc}")
            return "failed", None, str(exc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug in one method must not stop the others
            logger.info("crashed:\n" + traceback.format_exc())
            return "failed", None, (f"{type(exc).__name__}: {exc} (traceback in "
                                    f"{folder}/{JOB_LOG})")
    with atomic_path(predicted) as tmp:
        output.ates.to_csv(tmp, compression="gzip")
    write_json_atomic(stored, {"key": key, "method": method.name, "seed": job.seed,
                               "extras": output.extras})
    return "ok", output, None


def worker_run(method_name: str, job: MethodJob):
    """A trained job in a worker (methods are looked up again there)."""
    method = methods([method_name])[0]
    status, output, error = run_job(method, job)
    return status, output, error


def benchmark_lock(folder: Path):
    """One benchmark at a time per folder: two would train the same run folders."""
    from gpo_vae.io import exclusive_folder

    return exclusive_folder(folder / "benchmark.lock", f"another gpo-vae benchmark is "
                            f"running in {folder}; wait for it or give this one another --out")


def execute(plan: BenchmarkPlan) -> list[JobResult]:
    """Run every job of ``plan`` (see the module docstring) and score it on the test
    cells; returns one :class:`JobResult` per method x seed x split (model-free methods:
    one per split, with seed = the first seed), and the split-half ceiling per split."""
    results: list[JobResult] = []
    for k in range(plan.n_splits):
        results += _run_split(plan, k)
    return results


def _run_split(plan: BenchmarkPlan, k: int) -> list[JobResult]:
    from gpo_vae.benchmarking.data import BenchmarkData
    from gpo_vae.config import load_config

    overrides = plan.split_overrides(k)
    config = load_config(plan.config_path, overrides)
    data = BenchmarkData.from_config(config, plan.settings)
    logger.info(f"split {k}: {len(data.names)} perturbations scored on "
        f"{int(data.cells.in_split.sum()):,} test cells ({config.data.split} split, data "
        f"seed {config.data.seed})")
    from gpo_vae.evaluation.baselines import noise_free_pearson

    results = [JobResult(k, CEILING_METHOD, plan.seeds[0], "ok", scores=data.ceiling),
               JobResult(k, "ceiling_noise_free", plan.seeds[0], "ok",
                         scores=noise_free_pearson(data.ceiling))]
    local, pooled = [], []
    for method in plan.methods:
        reason = method.applies(data)
        if reason:
            results.append(JobResult(k, method.name, plan.seeds[0], "skipped", reason))
            continue
        for seed in (plan.seeds if method.trains else plan.seeds[:1]):
            folder = plan.out / "runs" / f"split{k}" / method.name / f"seed{seed}"
            job = MethodJob(plan.config_path, overrides, seed, folder, data.names,
                            plan.settings)
            elsewhere = plan.jobs > 1 or plan.executor != LOCAL_EXECUTOR
            (pooled if method.trains and elsewhere else local).append((method, job))
    bar = progress_bar(total=len(local) + len(pooled), desc=f"benchmark split {k}",
                       unit="jobs")
    with bar:
        for method, job in local:
            job.data = data
            results.append(_scored(k, data, method, job, *run_job(method, job)))
            job.data = None
            bar.update()
        # the trained jobs through the one runner: a pool of processes here, or a cluster
        outputs = run_jobs("gpo_vae.benchmarking.runner:worker_run",
                           [{"method_name": m.name, "job": _picklable(j)} for m, j in pooled],
                           folder=plan.out, workers=plan.jobs, executor=plan.executor,
                           user_config=plan.redun_config)
        for (method, job), output in zip(pooled, outputs, strict=True):
            results.append(_scored(k, data, method, job, *output))
            bar.update()
    return results


def _scored(k: int, data, method: Method, job: MethodJob, status: str,
            output: MethodOutput | None, error: str | None) -> JobResult:
    """A finished job's result, its predictions scored against the test ATEs."""
    from gpo_vae.evaluation.metrics import score_ates

    result = JobResult(k, method.name, job.seed, status, error,
                       commands=method.commands(job) if method.commands else [])
    if output is not None:
        ates = output.ates.reindex(index=data.names, columns=data.observed.columns)
        result.scores = score_ates(ates, data.observed, de=data.de)
        result.extras = output.extras
    what = f"{method.name} seed {job.seed}" if method.trains else method.name
    logger.info(f"  {what}: {status}" + (f" ({error})" if error else ""))
    return result


def _picklable(job: MethodJob) -> MethodJob:
    """The job as a worker gets it: no data, and a log the worker opens itself."""
    return MethodJob(job.config_path, job.overrides, job.seed, job.folder, job.names,
                     job.settings, None)
