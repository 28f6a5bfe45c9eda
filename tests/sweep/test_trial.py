"""One trial: stable naming, failures as records, W&B logging grouped by sweep."""

from __future__ import annotations

import pytest

from gpo_vae.sweep import trial as trial_mod
from gpo_vae.sweep.spec import load_sweep
from gpo_vae.sweep.trial import make_trial, run_trial, trial_id
from gpo_vae.sweep.wandb_controller import split_count, trial_from_run

EVALUATION = {"n_samples": 20, "n_global": 2, "iwelbo_particles": 2, "ceiling_repeats": 2,
              "grn_top_k": [5]}


def _base(base_config):
    from sweep_files import write_sweep

    return load_sweep(write_sweep(base_config.parent / "s.yaml", base_config,
                                  base_config.parent / "out"))


def test_trials_are_named_by_their_config_and_grouped_by_sweep(base_config, tmp_path):
    spec = _base(base_config)
    config = spec.trial_config({"loss.gloss_coeff": 5})
    trial = make_trial({"loss.gloss_coeff": 5}, config, "mysweep", tmp_path)
    assert trial.trial_id == trial_id(config)
    assert trial.run_dir == str(tmp_path / "trials" / trial.trial_id)
    assert trial.config["logging"]["wandb_group"] == "mysweep"
    assert trial.config["logging"]["wandb_name"] == f"mysweep_{trial.trial_id}"
    other = spec.trial_config({"loss.gloss_coeff": 6})
    assert trial_id(other) != trial.trial_id
    quiet = {**config, "logging": {**config["logging"], "wandb": True}}
    assert trial_id(quiet) == trial.trial_id  # logging does not change what is trained


def test_a_trial_that_cannot_run_is_a_failed_record(base_config, tmp_path):
    spec = _base(base_config)
    config = spec.trial_config({})
    config["data"] = {**config["data"], "path": str(tmp_path / "gone.h5ad")}
    trial = make_trial({}, config, "s", tmp_path)
    record = run_trial(trial.to_dict(), EVALUATION)
    assert record["status"] == "failed" and "gone.h5ad" in record["error"]
    assert "failed" in (tmp_path / "trials" / trial.trial_id / "trial.log").read_text()


@pytest.mark.integration
def test_trial_logs_to_wandb_offline_grouped_by_sweep(base_config, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    spec = _base(base_config)
    config = spec.trial_config({"loss.gloss_coeff": 3})
    config["logging"] = {**config["logging"], "wandb": True}
    trial = make_trial({"loss.gloss_coeff": 3}, config, "grouped", tmp_path)
    seen = {}
    finish = trial_mod._finish_wandb

    def spy(metrics):  # what the live W&B run holds just before the trial closes it
        import wandb

        seen.update(group=wandb.run.group, name=wandb.run.name, offline=wandb.run.offline)
        finish(metrics)
        seen["summary"] = dict(metrics)

    monkeypatch.setattr(trial_mod, "_finish_wandb", spy)
    record = run_trial(trial.to_dict(), EVALUATION)
    assert record["status"] == "ok", record["error"]
    assert seen["group"] == "grouped" and seen["name"] == f"grouped_{trial.trial_id}"
    assert seen["offline"] and seen["summary"]["status"] == "ok"
    assert "ate.model.pearson_top20" in seen["summary"]
    runs = list((tmp_path / "trials" / trial.trial_id / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_wandb_proposals_become_trials(base_config, tmp_path):
    spec = _base(base_config)
    sweep = {"name": "wb", "output_dir": str(tmp_path), "base_config": spec.base_config}
    trial = trial_from_run({"loss.gloss_coeff": 7, "_wandb": {}}, sweep)
    assert trial.params == {"loss.gloss_coeff": 7}
    assert trial.config["loss"]["gloss_coeff"] == 7 and trial.config["logging"]["wandb"]
    with pytest.raises(Exception, match="proposed invalid settings"):
        trial_from_run({"loss.beta": -1}, sweep)


def test_agents_share_the_trial_cap(base_config):
    spec = _base(base_config)
    assert split_count(spec, 5, 2) == [3, 2]
    assert split_count(spec, 1, 4) == [1]
    assert split_count(spec, None, 2) == [None, None]  # grid: the server ends it


@pytest.mark.integration
def test_an_interrupted_trial_resumes_from_its_last_checkpoint(base_config, tmp_path):
    from gpo_vae.config import config_from_dict
    from gpo_vae.training.train import train

    spec = _base(base_config)
    config = spec.trial_config({})
    trial = make_trial({}, config, "s", tmp_path)
    run_dir = tmp_path / "trials" / trial.trial_id
    early = config_from_dict({**trial.config, "training": {**trial.config["training"],
                                                           "max_steps": 3}})
    train(early, run_dir=run_dir)
    (run_dir / "training_summary.json").unlink()  # as if stopped before the end
    record = run_trial(trial.to_dict(), EVALUATION)
    assert record["status"] == "ok", record["error"]
    assert "resuming from" in (run_dir / "trial.log").read_text()
    assert record["metrics"]["train.steps"] == config["training"]["max_steps"]


def test_a_trial_trained_on_replaced_data_is_set_aside(tmp_path):
    run_dir = tmp_path / "trials" / "abc"
    run_dir.mkdir(parents=True)
    (run_dir / trial_mod.DATA_MARKER).write_text('{"data_key": "old"}')
    assert trial_mod._set_aside_if_stale(run_dir, "old") is None and run_dir.exists()
    stale = trial_mod._set_aside_if_stale(run_dir, "new")
    assert stale == tmp_path / "trials" / "abc.stale-1" and stale.is_dir()
    assert not run_dir.exists()


def test_a_validation_result_is_reused_only_with_the_same_settings(tmp_path):
    out = tmp_path / "eval_val"
    out.mkdir()
    (out / "metrics.json").write_text('{"iwelbo_val": -3.0}')
    (out / trial_mod.SETTINGS_MARKER).write_text('{"n_samples": 40, "split": "val"}')
    assert trial_mod._reusable_evaluation(out, {"n_samples": 40, "split": "val"}) == \
        {"iwelbo_val": -3.0}
    assert trial_mod._reusable_evaluation(out, {"n_samples": 80, "split": "val"}) is None


@pytest.mark.integration
def test_a_wandb_agent_turns_proposals_into_trials(base_config, tmp_path, monkeypatch):
    """The W&B controller path without a server: the agent and the proposal are stood in
    for, everything after (W&B run, training, validation, the record) is real."""
    wandb = pytest.importorskip("wandb")
    from gpo_vae.sweep.results import best_record
    from gpo_vae.sweep.wandb_controller import run_agent

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    spec = _base(base_config)
    proposals = iter([{"loss.gloss_coeff": 2}])
    real_init = wandb.init
    monkeypatch.setattr(wandb, "init", lambda **kw: real_init(config=next(proposals),
                                                              dir=str(tmp_path)))

    def agent(sweep_id, function, project=None, entity=None, count=None):
        assert sweep_id == "abc123" and count == 1
        function()

    monkeypatch.setattr(wandb, "agent", agent)
    sweep = {"name": "wb", "output_dir": str(tmp_path), "base_config": spec.base_config}
    records = run_agent("abc123", "proj", None, 1, sweep, EVALUATION)
    assert [r["status"] for r in records] == ["ok"], records
    assert records[0]["params"] == {"loss.gloss_coeff": 2}
    assert best_record(records, "ate.model.pearson_top20", True) is records[0]
    assert wandb.run is None  # the trial closed its W&B run
