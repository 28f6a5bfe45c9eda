"""One runner for many trainings: the jobs of a benchmark (method x seed), of a sweep
(trials), of the GRN's bootstrap stability and of the developer ablation run through redun.

redun (not a home-made scheduler) gives the worker pool and the executors: ``local`` runs
jobs in a pool of processes on this machine (``workers`` at once, each with its share of
the cores); any executor of a redun config file (``aws_batch``, ``k8s``, ``gcp_batch``,
...) runs them on a cluster. The redun database lives in the caller's folder
(``<folder>/.redun/redun.db``). One job on the local executor runs in this process, and
redun is imported only when jobs go through it (:mod:`gpo_vae.jobs.tasks`).

A job is a function named ``"module:function"`` (importable wherever the job runs) and
its keyword arguments; :func:`run_jobs` returns the results in order. Sweeps build their
own task graph (prepare, then trials, then the test of the best) on the same scheduler,
config and executors (:func:`redun_config`, :func:`make_scheduler`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from gpo_vae.errors import ConfigError

#: redun's database folder inside the caller's folder.
REDUN_DIR = ".redun"
LOCAL_EXECUTOR = "local"
#: Torch threads per job, set for the worker processes.
THREADS_ENV = "GPO_VAE_JOB_THREADS"
#: Thread pools a worker process sizes from its environment when they start. numba's
#: above all: scanpy's normalisation starts numba's OpenMP layer, which resized the
#: OpenMP team torch shares to every core, so two jobs on two cores ran 100x slower
#: (13 cells/s against 1,300 each, measured on the demo).
POOL_ENVS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MKL_NUM_THREADS")


def job_threads(workers: int) -> int:
    """Torch threads per job, so parallel jobs share the cores instead of fighting (two
    jobs with all threads each ran 25x slower on 2 cores)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@contextlib.contextmanager
def job_environment(workers: int) -> Iterator[None]:
    """Tell the worker processes started in the block their share of the cores: torch's
    threads, and the size of every thread pool a library starts from the environment
    (:data:`POOL_ENVS`; a user's own smaller setting is kept)."""
    threads = job_threads(workers)
    names = (THREADS_ENV, *POOL_ENVS)
    old = {name: os.environ.get(name) for name in names}
    os.environ[THREADS_ENV] = str(threads)
    for name in POOL_ENVS:
        mine = old[name]
        keep = mine is not None and mine.isdigit() and 0 < int(mine) <= threads
        os.environ[name] = mine if keep else str(threads)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _ShortLines(logging.Filter):
    """redun logs every job with its arguments (whole configs here): keep lines short."""

    width = 150

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > self.width:
            record.msg, record.args = message[:self.width - 3] + "...", None
        return True


@contextlib.contextmanager
def redun_lines(quiet: bool) -> Iterator[None]:
    """redun's log lines shortened while the block runs, or only its warnings if quiet."""
    redun_logger = logging.getLogger("redun")
    old_level = redun_logger.level
    short = _ShortLines()
    redun_logger.addFilter(short)
    if quiet:
        redun_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        redun_logger.removeFilter(short)
        redun_logger.setLevel(old_level)


def set_job_threads() -> None:
    """In a worker: take the share of the cores the runner set (nothing outside one)."""
    threads = os.environ.get(THREADS_ENV)
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


def redun_config(folder: str | os.PathLike, workers: int, executor: str = LOCAL_EXECUTOR,
                 user_config: str | os.PathLike | None = None):
    """redun's config: the database in ``folder/.redun``, the local process pool of
    ``workers``, and the executors of the user's redun config file (for clusters)."""
    from redun.config import Config

    config_dir = Path(folder) / REDUN_DIR
    config = Config({
        "backend": {"db_uri": f"sqlite:///{(config_dir / 'redun.db').resolve()}"},
        "executors.local": {"type": "local", "mode": "process",
                            "max_workers": str(workers), "start_method": "spawn"},
        "scheduler": {"job_status_interval": "60"},
    }, configdir=str(config_dir))
    if user_config is not None:
        path = Path(user_config)
        if not path.is_file():
            raise ConfigError(f"redun_config={str(path)!r} not found; give a redun.ini "
                              "file with [executors.NAME] sections")
        try:
            config.read_path(str(path))
        except Exception as exc:  # configparser's errors are many and unhelpful on their own
            raise ConfigError(f"redun_config={str(path)!r} is not a valid redun config "
                              f"({type(exc).__name__}); fix its INI syntax") from None
    executors = sorted(config.get("executors", {}))
    if executor not in executors:
        raise ConfigError(f"executor={executor!r} is not defined; choose one of "
                          f"{', '.join(executors)} or add [executors.{executor}] to a "
                          "file given as redun_config")
    return config


def make_scheduler(config, *, load: bool = True):
    """redun's scheduler (with its database ready when ``load``); a broken executor section
    is a one-line error, before any job runs."""
    from redun import Scheduler

    try:
        scheduler = Scheduler(config=config)
    except Exception as exc:  # redun raises KeyError, ValueError, ExecutorError, ...
        raise ConfigError(f"redun could not set up the executors ({type(exc).__name__}: "
                          f"{exc}); fix the [executors.*] sections of redun_config") from None
    if load:
        scheduler.load(migrate=True)  # creates the database on the first run
    return scheduler


def resolve(function: str):
    """The function named ``"package.module:function"``."""
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def run_jobs(function: str, jobs: Sequence[dict], *, folder: str | os.PathLike,
             workers: int = 1, executor: str = LOCAL_EXECUTOR,
             user_config: str | os.PathLike | None = None, quiet: bool = True) -> list:
    """Call ``function`` (``"module:function"``) once per keyword-argument dict of
    ``jobs`` and return the results in the same order.

    One worker on the local executor calls them here, in turn; otherwise they run as
    redun tasks on ``executor`` (``workers`` at once on the local one, each with its share
    of the cores; redun says only its warnings when ``quiet``). Jobs keep their own
    results (redun does not cache them: a benchmark or a sweep decides what a finished job
    is); an exception in a job stops the run.
    """
    if workers < 1:
        raise ConfigError(f"workers={workers} must be at least 1")
    if not jobs:
        return []
    if workers == 1 and executor == LOCAL_EXECUTOR and user_config is None:
        call = resolve(function)
        return [call(**kwargs) for kwargs in jobs]
    config = redun_config(folder, workers, executor, user_config)
    (Path(folder) / REDUN_DIR).mkdir(parents=True, exist_ok=True)
    scheduler = make_scheduler(config)
    from gpo_vae.jobs.tasks import gather, run_job  # redun's tasks: only when they run

    expression = gather([run_job.options(executor=executor)(function, kwargs)
                         for kwargs in jobs])
    with job_environment(workers), redun_lines(quiet):
        return scheduler.run(expression)
