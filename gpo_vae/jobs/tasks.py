"""The redun tasks of :func:`gpo_vae.jobs.run_jobs` (imported only when jobs run through
redun, so importing the package does not pay for redun)."""

from __future__ import annotations

from redun import task

from gpo_vae.jobs import resolve, set_job_threads

redun_namespace = "gpo_vae.jobs"


@task(cache=False)
def run_job(function: str, kwargs: dict):
    """One job in a worker: its share of the cores, then ``function(**kwargs)``."""
    set_job_threads()
    return resolve(function)(**kwargs)


@task(cache=False)
def gather(results: list) -> list:
    """Every job's result, in order (redun runs the jobs before this)."""
    return results
