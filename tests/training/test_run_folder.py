"""Run integrity: one writer per run folder, resumes that keep the run's settings, and
evaluation only on the cells the run was trained with."""

import json
import logging
import os
import subprocess
import sys

import pytest

from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.training.run_folder import LOCK, check_resume_settings, run_lock
from gpo_vae.training.train import train


def test_a_second_writer_is_refused_and_the_lock_is_released_after(tmp_path):
    run = tmp_path / "run"
    with run_lock(run):
        assert (run / LOCK).is_file()
        with pytest.raises(ConfigError, match=f"in use by process {os.getpid()}"):
            with run_lock(run):
                pass
    assert not (run / LOCK).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    caplog.set_level(logging.INFO, logger="gpo_vae")
    with run_lock(run):
        pass
    assert any("stale lock" in m for m in caplog.messages)
    assert not (run / LOCK).exists()


def test_a_failed_run_leaves_no_empty_folder(tmp_path):
    run = tmp_path / "never"
    with pytest.raises(RuntimeError):
        with run_lock(run):
            raise RuntimeError("boom")
    assert not run.exists()


@pytest.mark.integration
def test_training_into_a_folder_in_use_is_refused(make_config, tmp_path):
    run = tmp_path / "busy"
    with run_lock(run):
        with pytest.raises(ConfigError, match="in use"):
            train(make_config(max_epochs=1), run_dir=run)
    assert not (run / "checkpoints").exists()


@pytest.mark.parametrize("key,section,value", [("n_latent", "model", 4),
                                               ("split", "data", "perturbations"),
                                               ("encoder", "guide", "correlated")])
def test_resume_with_a_changed_data_or_model_setting_names_the_key(tmp_path, key, section,
                                                                   value):
    (tmp_path / "config.yaml").write_text(
        "model:\n  n_latent: 8\ndata:\n  split: cells\nguide:\n  encoder: mean_field\n"
        "training:\n  max_epochs: 2\n")
    with pytest.raises(ConfigError, match=f"{section}.{key}="):
        check_resume_settings(tmp_path, {section: {key: value}})
    # training settings may change: that is what resuming is for
    check_resume_settings(tmp_path, {"training": {"max_epochs": 10}})


@pytest.mark.integration
def test_resume_refuses_a_changed_split_end_to_end(make_config, tmp_path):
    run = tmp_path / "resumed"
    train(make_config(max_epochs=1), run_dir=run)
    assert json.loads((run / "split.json").read_text())["cells"]["test"]
    changed = make_config(max_epochs=2)
    changed.model.n_latent = 4
    with pytest.raises(ConfigError, match="model.n_latent=4"):
        train(changed, run_dir=run, resume=True)


@pytest.mark.integration
def test_evaluation_stops_when_the_input_was_rewritten_in_another_cell_order(
        small_screen, tiny_config, tmp_path):
    from gpo_vae.evaluation.report import EvaluationSettings, evaluate
    from gpo_vae.io import write_h5ad_atomic

    screen = tmp_path / "screen.h5ad"        # a private copy: the test rewrites it
    write_h5ad_atomic(small_screen, screen)
    config = tiny_config(
        tmp_path, screen, name="shuffled", data={"batch_size": 256},
        model={"n_latent": 4, "decoder_n_hidden": 16},
        guide={"basal_encoder_n_hidden": 16, "embedding_encoder_n_hidden": 16,
               "embedding_encoder_n_layers": 1},
        training={"max_steps": 3, "n_particles": 1, "lr": 3e-4,
                  "diagnostics_every_n_epochs": 0})
    run = train(config).run_dir
    order = list(range(small_screen.n_obs))[::-1]
    write_h5ad_atomic(small_screen[order].copy(), screen)
    settings = EvaluationSettings(n_samples=20, n_global=2, iwelbo_particles=1,
                                  ceiling_repeats=1)
    with pytest.raises(InputDataError, match="differ from those run"):
        evaluate(run, settings=settings)
    assert not (run / "metrics.json").exists()


def test_resume_compares_input_files_by_their_absolute_path(tmp_path, monkeypatch):
    from gpo_vae.config import absolute_path

    monkeypatch.chdir(tmp_path)
    # an older run stored its input files as given, relative to where it was trained
    (tmp_path / "config.yaml").write_text("model:\n  gene_embedding: emb.csv\n")
    check_resume_settings(tmp_path, {"model": {"gene_embedding": absolute_path("emb.csv")}})
    with pytest.raises(ConfigError, match="model.gene_embedding="):
        check_resume_settings(tmp_path, {"model": {"gene_embedding": "other.csv"}})


@pytest.mark.integration
def test_a_run_trained_on_a_relative_path_works_from_anywhere_and_names_moved_data(
        small_screen, tiny_config, tmp_path, monkeypatch, capsys):
    import shutil

    import yaml

    from gpo_vae.cli import main
    from gpo_vae.evaluation.report import EvaluationSettings, evaluate
    from gpo_vae.io import write_h5ad_atomic
    from gpo_vae.training.checkpoint import load_trained

    where = tmp_path / "trained_here"
    where.mkdir()
    write_h5ad_atomic(small_screen, where / "screen.h5ad")
    monkeypatch.chdir(where)
    config = tiny_config("runs", "screen.h5ad", name="relative",
                         model={"n_latent": 4, "decoder_n_hidden": 16},
                         training={"max_steps": 3, "n_particles": 1,
                                   "diagnostics_every_n_epochs": 0})
    run = (where / train(config).run_dir).resolve()
    stored = str(where / "screen.h5ad")
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["path"] == stored
    assert load_trained(run).config.data.path == stored

    moved = tmp_path / "moved" / "screen.h5ad"
    moved.parent.mkdir()
    shutil.move(stored, moved)
    monkeypatch.chdir(tmp_path)
    for argv in (["evaluate", str(run), "--quiet"],
                 ["design", str(run), "--target", "perturbation:X", "--quiet"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: the run's input file {stored!r} (data.path in its "
                              "config.yaml) does not exist; if it moved, give its new "
                              "location with --data NEW_PATH"), err
        assert len(err.strip().splitlines()) == 1
    assert main(["evaluate", str(run), "--data", "nowhere.h5ad", "--quiet"]) == 2
    assert "--data 'nowhere.h5ad' does not exist" in capsys.readouterr().err
    settings = EvaluationSettings(n_samples=20, n_global=2, iwelbo_particles=1,
                                  ceiling_repeats=1)
    evaluate(run, settings=settings, data_path=moved)
    assert (run / "metrics.json").is_file()


@pytest.mark.parametrize("key, value", [("lr", 0.01), ("mask_lr", 0.1), ("seed", 3),
                                        ("n_particles", 7), ("gradient_clip", 1.0),
                                        ("early_stopping_patience", 2),
                                        ("checkpoint_monitor", "val_ate")])
def test_resume_refuses_an_optimisation_setting_it_would_ignore_or_change(tmp_path, key,
                                                                          value):
    # --resume --set training.lr=0.01 trained on with the checkpoint's 0.003 (the
    # optimizer state) while config.yaml recorded 0.01
    from gpo_vae.config import Config, dump_config

    saved = Config()
    (tmp_path / "config.yaml").write_text(dump_config(saved))
    new = saved.to_dict()
    new["training"][key] = value
    with pytest.raises(ConfigError, match=rf"resume=True with training\.{key}=.*trained with"):
        check_resume_settings(tmp_path, new)


def test_resume_accepts_new_limits_hardware_batch_size_and_logging(tmp_path):
    from gpo_vae.config import Config, dump_config

    saved = Config()
    (tmp_path / "config.yaml").write_text(dump_config(saved))
    new = saved.to_dict()
    new["training"].update(max_epochs=9, max_steps=50, accelerator="cpu", devices=1,
                           precision="bf16-mixed", log_every_n_steps=1,
                           diagnostics_every_n_epochs=0)
    new["data"]["batch_size"] = 64
    new["logging"]["wandb"] = True
    check_resume_settings(tmp_path, new)
