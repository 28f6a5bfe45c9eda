"""The sweep as a redun workflow: prepare the data once, run trials as cached tasks in
parallel, score the chosen trial on the test split, write the results table.

redun (not a home-made scheduler) gives the caching, the worker limit and the executors:
``local`` runs trials in a pool of processes on this machine; any executor defined in a
redun config file (``aws_batch``, ``k8s``, ``gcp_batch``, ...) runs them on a cluster.
The redun database lives in the sweep's folder (``<sweep>/.redun/redun.db``), so a rerun
finds finished trials there and nothing depends on a ``.redun/`` in a parent folder.

Tasks return records whose ``File`` entries (the prepared data's manifest, each trial's
``metrics.json``) redun checks on a cache hit: a deleted or changed trial folder runs again.
"""

from __future__ import annotations

from pathlib import Path

from redun import File, task

from gpo_vae.sweep import trial as trial_mod

redun_namespace = "gpo_vae.sweep"


@task()
def prepare_data(config: dict) -> dict:
    """Prepare (or find in gpo-vae's own cache) the data of one config; run once per
    distinct data section, so parallel trials never prepare the same data together.
    Data these settings cannot prepare fails only the trials that use them."""
    from gpo_vae.config import config_from_dict
    from gpo_vae.data import cache as cache_mod
    from gpo_vae.data.prepare import default_cache_dir, prepare
    from gpo_vae.errors import GpoVaeError

    try:
        cfg = config_from_dict(config)
        result = prepare(cfg)
    except GpoVaeError as exc:
        return {"error": f"preparing the data failed: {exc}"}
    key = result.manifest["key"]
    _, manifest = cache_mod.cache_paths(default_cache_dir(cfg), key)
    return {"manifest": File(str(manifest)), "key": key}


@task()
def run_trial(trial: dict, evaluation: dict, prepared: dict, retry: str = "") -> dict:
    """Train and validate one trial (see :func:`gpo_vae.sweep.trial.run_trial`).
    ``retry`` only changes the cache key: ``--retry-failed`` runs every trial's task again
    (finished ones reuse their folders in seconds; failed ones try again)."""
    if "error" in prepared:
        return trial_mod.failed_record(trial, prepared["error"])
    record = trial_mod.run_trial(trial, evaluation, data_key=prepared["key"])
    if record["status"] == "ok":
        record["metrics_file"] = File(str(_validation_file(record["run_dir"])))
    return record


def _validation_file(run_dir: str) -> Path:
    return Path(run_dir) / trial_mod.EVALUATION_DIR / "metrics.json"


@task()
def evaluate_on_test(run_dir: str, evaluation: dict, validated: File) -> dict:
    """Score the chosen trial on the test split (once; cached like a trial)."""
    metrics = trial_mod.evaluate_on_test(run_dir, evaluation)
    return {"metrics": metrics,
            "metrics_file": File(str(Path(run_dir) / trial_mod.TEST_DIR / "metrics.json"))}


@task(cache=False)
def write_report(records: list, sweep: dict, test: dict | None) -> dict:
    """Write ``sweep_results.csv`` (and its plot) and print the best trial."""
    from gpo_vae.sweep.results import write_sweep_report

    return write_sweep_report(records, sweep, test)


@task(cache=False)
def finish(records: list, sweep: dict, evaluation: dict, executor: str):
    """Choose the best trial on the validation metric, test it, report."""
    from gpo_vae.sweep.results import best_record

    best = best_record(records, sweep["metric_name"], sweep["maximize"])
    test = None
    if best is not None:
        test = evaluate_on_test.options(executor=executor)(
            best["run_dir"], evaluation, File(str(_validation_file(best["run_dir"]))))
    return write_report(records, sweep, test)


@task(cache=False)
def sweep_workflow(trials: list, sweep: dict, evaluation: dict, executor: str,
                   retry: str = ""):
    """Every trial (grouped behind the preparation of its data), then :func:`finish`."""
    from gpo_vae.sweep.trial import trial_id

    prepared = {}
    records = []
    for trial in trials:
        data_key = trial_id({"output_dir": trial["config"]["output_dir"],
                             "data": trial["config"]["data"]})
        if data_key not in prepared:
            prepared[data_key] = prepare_data.options(executor=executor)(trial["config"])
        records.append(run_trial.options(executor=executor)(
            trial, evaluation, prepared[data_key], retry))
    return finish(records, sweep, evaluation, executor)


@task(cache=False)
def wandb_agent(sweep_id: str, project: str | None, entity: str | None, count: int | None,
                sweep: dict, evaluation: dict, prepared: dict) -> list:
    """Run a W&B agent: the server proposes parameters, each becomes a trial here (not
    cached by redun, since the server decides what runs; trial folders are still reused)."""
    from gpo_vae.sweep.wandb_controller import run_agent

    if "error" in prepared:
        raise_prepare_error(prepared["error"])
    return run_agent(sweep_id, project, entity, count, sweep, evaluation)


def raise_prepare_error(message: str) -> None:
    from gpo_vae.errors import InputDataError

    raise InputDataError(message)


@task(cache=False)
def wandb_workflow(sweep_id: str, project: str | None, entity: str | None, counts: list,
                   sweep: dict, evaluation: dict, executor: str):
    """Prepare the base data once, then one W&B agent per worker; their trials are
    reported like local ones."""
    from redun.functools import flatten

    prepared = prepare_data.options(executor=executor)(sweep["base_config"])
    agents = [wandb_agent.options(executor=executor)(
        sweep_id, project, entity, count, sweep, evaluation, prepared) for count in counts]
    return finish(flatten(agents), sweep, evaluation, executor)
