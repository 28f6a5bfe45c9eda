"""One sweep trial: train a config, then score it on the validation split.

A trial's folder is named by a hash of its resolved config (logging aside), so the same
trial always lands in the same folder. Running a trial again picks up what is there:
a finished training is not repeated, an interrupted one resumes from
``checkpoints/last.ckpt``. The trial's log goes to ``trial.log`` in its folder, because
parallel trials writing to one terminal would interleave.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from gpo_vae.errors import GpoVaeError
from gpo_vae.io import write_json_atomic
from gpo_vae.jobs import set_job_threads
from gpo_vae.progress import job_log

EVALUATION_DIR = "eval_val"
TEST_DIR = "eval_test"
DATA_MARKER = "trial_data.json"          # the prepared data's key the trial trained on
SETTINGS_MARKER = "evaluation_settings.json"
TRIAL_LOG = "trial.log"                  # what the trial did (a job_log file)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """A parameter set, the full config it gives, and where it runs."""

    trial_id: str
    params: dict
    config: dict
    run_dir: str

    def to_dict(self) -> dict:
        return {"trial_id": self.trial_id, "params": self.params, "config": self.config,
                "run_dir": self.run_dir}


def trial_id(config: dict) -> str:
    """A short, stable name for a resolved config (its logging section left out)."""
    key = {k: v for k, v in config.items() if k != "logging"}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:10]


def make_trial(params: dict, config: dict, sweep_name: str, sweep_dir: Path) -> Trial:
    """Name a trial, give its W&B run a name and the sweep's group, and place its folder."""
    tid = trial_id(config)
    config = {**config, "name": f"{sweep_name}_{tid}",
              "logging": {**config.get("logging", {})}}
    config["logging"]["wandb_group"] = sweep_name
    config["logging"]["wandb_name"] = f"{sweep_name}_{tid}"
    config["logging"]["progress_bar"] = False
    return Trial(tid, params, config, str(Path(sweep_dir) / "trials" / tid))


def _finish_wandb(metrics: dict) -> None:
    """Put the trial's numbers in its W&B run's summary and close the run."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - logging.wandb=true already needs it
        return
    if wandb.run is not None:
        wandb.run.summary.update(metrics)
        wandb.finish()


def failed_record(trial: dict, error: str) -> dict:
    """The record of a trial that could not run (``error`` says why)."""
    with job_log(Path(trial["run_dir"]) / TRIAL_LOG):
        logger.info(f"failed: {error}")
    return {"trial_id": trial["trial_id"], "params": trial["params"],
            "run_dir": trial["run_dir"], "status": "failed", "error": error, "metrics": {},
            "seconds": 0.0}


def _set_aside_if_stale(run_dir: Path, data_key: str | None) -> Path | None:
    """A trial folder trained on other data (the input file was replaced) is renamed
    ``<folder>.stale-N`` (kept, never deleted), so the trial trains afresh."""
    marker = run_dir / DATA_MARKER
    if data_key is None or not marker.is_file():
        return None
    if json.loads(marker.read_text()).get("data_key") == data_key:
        return None
    n = 1
    while run_dir.with_name(f"{run_dir.name}.stale-{n}").exists():
        n += 1
    stale = run_dir.with_name(f"{run_dir.name}.stale-{n}")
    run_dir.rename(stale)
    return stale


def _reusable_evaluation(out: Path, settings: dict) -> dict | None:
    """A previous validation result of this trial, if made with the same settings."""
    metrics, used = out / "metrics.json", out / SETTINGS_MARKER
    if metrics.is_file() and used.is_file() and json.loads(used.read_text()) == settings:
        return json.loads(metrics.read_text())
    return None


def run_trial(trial: dict, evaluation: dict, data_key: str | None = None) -> dict:
    """Train and evaluate one trial (a :meth:`Trial.to_dict`); return its result record.

    What the folder already holds is reused: a finished training (unless ``data_key``,
    the prepared data's cache key, says the data changed), an interrupted one (resumed
    from its last checkpoint), a validation result with the same settings. A
    user-facing error (bad data for these settings, a NaN loss) makes a ``failed``
    record that names it, so one bad corner of the search does not stop the sweep.
    """
    run_dir = Path(trial["run_dir"])
    stale = _set_aside_if_stale(run_dir, data_key)
    with job_log(run_dir / TRIAL_LOG):
        if stale is not None:
            logger.info(f"the input data changed since this trial trained; its old folder is "
                        f"now {stale}")
        logger.info(f"trial {trial['trial_id']} starts: "
                    f"{json.dumps(trial['params'], default=str)}")
        return _run(trial, evaluation, data_key, run_dir)


def _run(trial: dict, evaluation: dict, data_key: str | None, run_dir: Path) -> dict:
    """The trial's training and validation (its lines going to ``trial.log``)."""
    from gpo_vae.config import config_from_dict
    from gpo_vae.evaluation.diagnostics import diagnostics_callback
    from gpo_vae.evaluation.report import EvaluationSettings, evaluate
    from gpo_vae.sweep.metrics import trial_metrics
    from gpo_vae.training.checkpoint import LAST
    from gpo_vae.training.train import TrainingInterrupted, read_summary, train

    set_job_threads()
    record = {"trial_id": trial["trial_id"], "params": trial["params"],
              "run_dir": str(run_dir), "status": "failed", "error": None, "metrics": {}}
    start = time.perf_counter()
    try:
        config = config_from_dict(trial["config"])
        if (run_dir / "training_summary.json").is_file():
            logger.info("training already finished; reusing it")
        else:
            resume = (run_dir / "checkpoints" / LAST).is_file()
            if data_key is not None:
                write_json_atomic(run_dir / DATA_MARKER, {"data_key": data_key})
            train(config, run_dir=run_dir, resume=resume, diagnostics=diagnostics_callback)
        summary = read_summary(run_dir)
        settings = {**evaluation, "split": "val"}
        out = run_dir / EVALUATION_DIR
        metrics = _reusable_evaluation(out, settings)
        if metrics is None:
            metrics = evaluate(run_dir, settings=EvaluationSettings(**settings),
                               out_dir=out).metrics
            write_json_atomic(out / SETTINGS_MARKER, settings)
        else:
            logger.info("validation result with these settings already there; reusing it")
        record["metrics"] = trial_metrics(metrics, summary)
        record["status"] = "ok"
    except TrainingInterrupted:
        raise
    except GpoVaeError as exc:
        record["error"] = str(exc)
        logger.info(f"failed: {exc}")
    except Exception as exc:
        # a bug, not bad input: keep the traceback in the trial's log, then re-raise so the
        # sweep stops and redun does not cache the failure
        logger.info("crashed:\n" + traceback.format_exc())
        _finish_wandb({"status": "crashed"})
        raise exc
    record["seconds"] = round(time.perf_counter() - start, 1)
    logger.info(f"trial {trial['trial_id']} {record['status']} in {record['seconds']} s")
    if trial["config"].get("logging", {}).get("wandb"):
        _finish_wandb({**record["metrics"], "status": record["status"]})
    return record


def evaluate_on_test(run_dir: str, evaluation: dict) -> dict:
    """Score a chosen trial on the test split once, beside the baselines (written to
    ``eval_test/`` in its folder); returns the evaluation's metrics."""
    from gpo_vae.evaluation.report import EvaluationSettings, evaluate

    set_job_threads()
    settings = EvaluationSettings(**{**evaluation, "split": "test"})
    with job_log(Path(run_dir) / TRIAL_LOG):
        return evaluate(run_dir, settings=settings, out_dir=Path(run_dir) / TEST_DIR).metrics
