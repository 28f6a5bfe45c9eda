"""``--controller wandb``: a real W&B sweep; its agents run inside redun tasks.

The W&B server proposes each trial's parameters (grid, random, or Bayesian search on the
results so far); every proposal becomes an ordinary gpo-vae trial (same folder naming,
training, validation scoring) whose numbers go back to the server in the run's summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

from gpo_vae.errors import ConfigError
from gpo_vae.io import write_json_atomic
from gpo_vae.sweep.spec import SweepSpec, trial_config_dict

SWEEP_ID_FILE = "wandb_sweep.json"


def _wandb():
    try:
        import wandb
    except ImportError:
        raise ConfigError("--controller wandb needs the wandb package: pip install wandb") \
            from None
    return wandb


def check_wandb_server() -> None:
    """A sweep needs a server: offline or disabled W&B cannot hold one."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        raise ConfigError(f"--controller wandb needs a W&B server, but WANDB_MODE={mode}; "
                          "unset WANDB_MODE (and run wandb login), or use --controller local")


def create_wandb_sweep(spec: SweepSpec) -> tuple[str, str, str | None]:
    """Create the sweep on the W&B server, or continue the one an earlier run of the same
    sweep file created (its id is kept in ``<sweep>/wandb_sweep.json``); returns
    (sweep id, project, entity)."""
    check_wandb_server()
    wandb = _wandb()
    project = spec.wandb_extra.get("project") or spec.base_config["logging"]["wandb_project"]
    entity = spec.wandb_extra.get("entity")
    config = spec.as_wandb()
    fingerprint = hashlib.sha1(json.dumps([config, project, entity], sort_keys=True,
                                          default=str).encode()).hexdigest()
    saved = spec.output_dir / SWEEP_ID_FILE
    if saved.is_file():
        previous = json.loads(saved.read_text())
        if previous.get("fingerprint") == fingerprint:
            return previous["sweep_id"], project, entity
    try:
        sweep_id = wandb.sweep(config, project=project, entity=entity)
    except Exception as exc:  # wandb raises many kinds (UsageError, CommError, HTTP errors)
        message = " ".join(str(exc).split())[:200]
        raise ConfigError(f"could not create a W&B sweep ({message}); run wandb login (and "
                          "set WANDB_BASE_URL for a local server), or use --controller local") \
            from None
    write_json_atomic(saved, {"sweep_id": sweep_id, "project": project, "entity": entity,
                              "fingerprint": fingerprint})
    return sweep_id, project, entity


def split_count(spec: SweepSpec, cap: int | None, workers: int) -> list[int | None]:
    """Trials per agent: the cap (--max-trials or run_cap) shared out, or unbounded for a
    grid (the server ends it); random and bayes never end without a cap."""
    if cap is None and spec.method != "grid":
        raise ConfigError(f"sweep {spec.name!r} uses {spec.method} search, which never ends on "
                          "its own; give max_trials=N (or run_cap: N in the sweep file)")
    if cap is None:
        return [None] * workers
    workers = min(workers, cap)
    return [cap // workers + (1 if i < cap % workers else 0) for i in range(workers)]


def trial_from_run(run_config: dict, sweep: dict):
    """The trial a W&B run's proposed parameters (dotted keys) describe."""
    from gpo_vae.config import config_from_dict
    from gpo_vae.sweep.trial import make_trial

    params = {k: v for k, v in run_config.items() if "." in k}
    config = trial_config_dict(sweep["base_config"], params)
    config.setdefault("logging", {})["wandb"] = True  # the server needs the metric back
    try:
        config_from_dict(config)
    except ConfigError as exc:
        raise ConfigError(f"the W&B sweep proposed invalid settings {params}: {exc}") from None
    return make_trial(params, config, sweep["name"], sweep["output_dir"])


def run_agent(sweep_id: str, project: str | None, entity: str | None, count: int | None,
              sweep: dict, evaluation: dict) -> list[dict]:
    """Run one W&B agent; every run it gets becomes a trial; returns their records."""
    from gpo_vae.sweep.trial import run_trial

    wandb = _wandb()
    records: list[dict] = []
    # the agent's run is the one the trial's WandbLogger should log to: that is the point
    warnings.filterwarnings("ignore", message=".*wandb run already in progress.*")

    def one_trial():
        from gpo_vae.config import config_from_dict
        from gpo_vae.data.prepare import prepared_key

        run = wandb.init()
        trial = trial_from_run(dict(run.config), sweep)
        data_key = prepared_key(config_from_dict(trial.config).data)
        records.append(run_trial(trial.to_dict(), evaluation, data_key=data_key))

    wandb.agent(sweep_id, function=one_trial, project=project, entity=entity, count=count)
    return records
