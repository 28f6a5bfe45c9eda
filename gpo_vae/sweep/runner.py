"""``gpo-vae sweep``: check a sweep file, propose trials, run them through redun.

Everything that can be wrong with the sweep (file, keys, distributions, every planned
trial's config, the metric, the executor, the data path, W&B's offline mode) is checked
before the first trial starts or anything is written.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpo_vae.errors import ConfigError, InputFileError
from gpo_vae.io import write_text_atomic
from gpo_vae.jobs import (
    LOCAL_EXECUTOR,
    REDUN_DIR,
    job_environment,
    make_scheduler,
    redun_lines,
)
from gpo_vae.outputs import check_output_folder, mark_output_folder
from gpo_vae.sweep.search import expand_trials
from gpo_vae.sweep.spec import SweepSpec
from gpo_vae.sweep.trial import Trial, make_trial

logger = logging.getLogger(__name__)

CONTROLLERS = ("local", "wandb")


@dataclass
class SweepPlan:
    """What a sweep will run: its trials (local controller) and how."""

    spec: SweepSpec
    trials: list[Trial]
    controller: str
    executor: str
    workers: int
    max_trials: int | None = None


def sweep_dict(spec: SweepSpec) -> dict:
    """The parts of the spec the redun tasks need (plain data, cheap to hash)."""
    return {"name": spec.name, "metric_name": spec.metric_name, "metric_goal": spec.metric_goal,
            "maximize": spec.maximize, "output_dir": str(spec.output_dir),
            "base_config": spec.base_config, "evaluation": spec.evaluation}


def plan_sweep(spec: SweepSpec, *, controller: str = "local", executor: str = LOCAL_EXECUTOR,
               workers: int | None = None, max_trials: int | None = None) -> SweepPlan:
    """Expand the trials (local controller) and settle the worker count."""
    if controller not in CONTROLLERS:
        raise ConfigError(f"controller={controller!r}; choose local or wandb")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers={workers} must be at least 1")
    trials: list[Trial] = []
    if controller == "local":
        seen = set()
        for params in expand_trials(spec, max_trials):
            trial = make_trial(params, spec.trial_config(params), spec.name, spec.output_dir)
            if trial.trial_id not in seen:  # random search can draw a set twice
                seen.add(trial.trial_id)
                trials.append(trial)
        _check_trial_configs(trials)
    elif max_trials is not None and max_trials < 1:
        raise ConfigError(f"max_trials={max_trials} must be at least 1")
    n = len(trials) or max_trials or spec.run_cap or 1
    workers = workers or max(1, min(n, os.cpu_count() or 1, 4))
    return SweepPlan(spec, trials, controller, executor, workers, max_trials)


def _check_trial_configs(trials: list[Trial]) -> None:
    """Every proposed combination must make a valid config (checked before any trial)."""
    from gpo_vae.config import config_from_dict

    for trial in trials:
        try:
            config_from_dict(trial.config)
        except ConfigError as exc:
            params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            raise ConfigError(f"trial {trial.trial_id} ({params}) has an invalid config: "
                              f"{exc}") from None


def _check_data(plan: SweepPlan) -> None:
    """Input files must exist before trials start (a dry run skips this)."""
    configs = [t.config for t in plan.trials] or [plan.spec.base_config]
    for config in configs:
        data = config["data"]
        for key in ("path", "summary_stats"):
            value = data.get(key)
            if key == "path" and not value:
                raise ConfigError(f"data.path is not set in {plan.spec.base_config_path}; "
                                  "point it at the screen's h5ad")
            if value and not Path(value).is_file():
                raise InputFileError(f"data.{key} file {value!r} (from "
                                     f"{plan.spec.base_config_path}) does not exist; fix the "
                                     "base config, or use --dry-run to only list the trials")


def redun_config(plan: SweepPlan, user_config: str | os.PathLike | None):
    """redun's config for the sweep (:func:`gpo_vae.jobs.redun_config` in its folder)."""
    from gpo_vae import jobs

    return jobs.redun_config(plan.spec.output_dir, plan.workers, plan.executor, user_config)


def describe_plan(plan: SweepPlan) -> str:
    """A readable list of the trials (what ``--dry-run`` prints)."""
    spec = plan.spec
    lines = [f"sweep {spec.name} ({spec.path}): method {spec.method}, metric "
             f"{spec.metric_name} ({spec.metric_goal}) on the validation split",
             f"  base config {spec.base_config_path}; output {spec.output_dir}; "
             f"executor {plan.executor}, {plan.workers} worker(s), controller {plan.controller}"]
    if plan.controller == "wandb":
        lines.append("  trials: proposed by the W&B server as the sweep runs")
    else:
        lines.append(f"  {len(plan.trials)} trials:")
        for trial in plan.trials:
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in trial.params.items())
            lines.append(f"    {trial.trial_id}  {params}")
    return "\n".join(lines)


def _sweep_lock(folder: Path):
    """One sweep at a time per folder: two would train the same trial folders at once."""
    from gpo_vae.io import exclusive_folder

    return exclusive_folder(folder / "sweep.lock", f"another gpo-vae sweep is running in "
                            f"{folder.parent}; wait for it, or give this one another --out")


def check_sweep_folder(plan: SweepPlan, force: bool = False) -> Path:
    """The sweep's folder when it is new, empty or holds sweep output (a rerun resumes
    there); a one-line error when it holds anything else, unless ``force``
    (:mod:`gpo_vae.outputs`). Nothing is written."""
    folder = plan.spec.output_dir
    return check_output_folder(folder, "sweep", folder, what="the sweep folder", force=force)


def run_sweep(plan: SweepPlan, *, redun_config_path: str | os.PathLike | None = None,
              quiet: bool = False, retry_failed: bool = False,
              force: bool = False) -> dict:
    """Run a planned sweep through redun and return its summary (see
    :func:`gpo_vae.sweep.results.write_sweep_report`). ``retry_failed`` runs trials
    that failed before again (redun caches failed trials like finished ones); ``force``
    writes into a folder holding files that are not sweep output (see
    :func:`check_sweep_folder`)."""
    from gpo_vae.sweep import workflow

    check_sweep_folder(plan, force)
    _check_data(plan)
    scheduler = make_scheduler(redun_config(plan, redun_config_path), load=False)
    spec = plan.spec
    sweep = sweep_dict(spec)
    evaluation = dict(spec.evaluation)
    if plan.controller == "wandb":
        from gpo_vae.sweep.wandb_controller import (
            check_wandb_server,
            create_wandb_sweep,
            split_count,
        )

        check_wandb_server()
        counts = split_count(spec, plan.max_trials or spec.run_cap, plan.workers)
    mark_output_folder(spec.output_dir, "sweep", spec.output_dir)
    with _sweep_lock(spec.output_dir / REDUN_DIR):
        if plan.controller == "wandb":
            sweep_id, project, entity = create_wandb_sweep(spec)
            logger.info(f"W&B sweep {sweep_id} in project {project}")
            expr = workflow.wandb_workflow(sweep_id, project, entity, counts, sweep,
                                           evaluation, plan.executor)
        else:
            retry = time.strftime("%Y%m%d%H%M%S") if retry_failed else ""
            expr = workflow.sweep_workflow([t.to_dict() for t in plan.trials], sweep,
                                           evaluation, plan.executor, retry)
        record = {"sweep_file": str(spec.path), **spec.as_wandb(),
                  "base_config": str(spec.base_config_path),
                  "trials": [{"trial_id": t.trial_id, "params": t.params,
                              "run_dir": t.run_dir} for t in plan.trials]}
        write_text_atomic(spec.output_dir / "sweep.yaml",
                          yaml.safe_dump(record, sort_keys=False))
        logger.info(f"running {len(plan.trials) or 'W&B-proposed'} trials on executor "
            f"{plan.executor} with {plan.workers} worker(s); redun database "
            f"{spec.output_dir / REDUN_DIR}")
        scheduler.load(migrate=True)  # creates the database on the first run
        # threads per trial for the worker processes; redun's lines short, or only warnings
        with job_environment(plan.workers), redun_lines(quiet):
            return scheduler.run(expr)
