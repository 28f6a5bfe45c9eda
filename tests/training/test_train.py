import json

import pandas as pd
import pytest
import torch

from gpo_vae.config import config_from_dict
from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.evaluation.diagnostics import diagnostics_callback
from gpo_vae.training.checkpoint import load_trained
from gpo_vae.training.curves import read_metrics
from gpo_vae.training.plan import NonFiniteLossError, TrainingPlan
from gpo_vae.training.train import train

pytestmark = pytest.mark.integration  # every test here trains (or builds a trainer)


@pytest.fixture(scope="module")
def long_run(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    """150 steps on the small screen: enough for the loss to fall clearly."""
    out = tmp_path_factory.mktemp("long")
    config = tiny_config(out, small_screen_path, shared_cache, training={
        "max_epochs": 1000, "max_steps": 150, "log_every_n_steps": 1})
    return train(config)


def test_run_folder_has_config_checkpoints_logs_and_plot(long_run):
    run = long_run.run_dir
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                 "logs/version_0/metrics.csv", "plots/training_curves.png",
                 "training_summary.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "training_summary.json").read_text())
    assert summary["steps"] == 150 and summary["train_cells_per_second"] > 0
    assert config_from_dict(__import__("yaml").safe_load((run / "config.yaml").read_text())) \
        .training.max_steps == 150


def test_loss_falls_within_a_few_hundred_steps(long_run):
    steps = read_metrics(long_run.run_dir).dropna(subset=["train/loss_step"])
    losses = steps["train/loss_step"].to_numpy()
    assert len(losses) >= 10
    assert losses[-5:].mean() < 0.8 * losses[:5].mean()
    val = read_metrics(long_run.run_dir)["val/loss"].dropna().to_numpy()
    assert val[-1] < val[0]


def test_checkpoint_round_trip_gives_identical_predictions(long_run):
    trained = long_run.module.cpu().eval()
    loaded = load_trained(long_run.last_checkpoint)
    dataset = PerturbationDataset(long_run.adata, "test")
    batch = dataset[list(range(16))]
    outputs = []
    for module in (trained, loaded):
        torch.manual_seed(3)
        with torch.no_grad():
            terms = module.loss(batch, 4).scalars()
        outputs.append(terms)
    for name in outputs[0]:
        assert torch.equal(outputs[0][name], outputs[1][name]), name
    assert torch.equal(trained.guide.mask_logits, loaded.guide.mask_logits)
    assert loaded.data_info.treatment_names == trained.data_info.treatment_names


def test_resume_continues_from_the_saved_step(make_config, tmp_path):
    first = train(make_config(max_epochs=100, max_steps=4), run_dir=tmp_path / "run")
    saved = torch.load(first.last_checkpoint, weights_only=True)
    assert saved["global_step"] == 4
    with pytest.raises(ConfigError, match="resume=True"):
        train(make_config(max_epochs=100, max_steps=4), run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="already reaches"):
        train(make_config(max_epochs=100, max_steps=4), run_dir=tmp_path / "run", resume=True)
    resumed = train(make_config(max_epochs=100, max_steps=9), run_dir=tmp_path / "run",
                    resume=True)
    assert resumed.summary["steps"] == 9
    second_session = pd.read_csv(tmp_path / "run/logs/version_1/metrics.csv")
    assert second_session["step"].min() >= 4


def test_resuming_a_run_that_early_stopping_ended_is_a_clear_error(make_config, tmp_path):
    run = train(make_config(max_epochs=1), run_dir=tmp_path / "run")
    saved = torch.load(run.last_checkpoint, weights_only=True)
    key = next(k for k in saved["callbacks"] if k.startswith("EarlyStopping"))
    saved["callbacks"][key]["stopped_epoch"] = 1
    torch.save(saved, run.last_checkpoint)
    with pytest.raises(ConfigError, match="early stopping ended"):
        train(make_config(max_epochs=5), run_dir=tmp_path / "run", resume=True)


def test_resume_without_a_checkpoint_is_a_clear_error(make_config, tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(make_config(), run_dir=tmp_path / "new", resume=True)


def test_same_seed_gives_the_same_model_on_cpu(make_config, tmp_path):
    runs = [train(make_config(max_steps=5), run_dir=tmp_path / f"r{i}") for i in range(2)]
    a, b = (r.module.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_guard_names_the_term_and_step(make_config, tmp_path):
    run = train(make_config(max_steps=2), run_dir=tmp_path / "ok")
    plan = TrainingPlan(run.module.cpu(), lr=1e-3, n_particles=2)
    batch = PerturbationDataset(run.adata, "train")[list(range(8))]
    batch["counts"][0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"'reconstruction' became nan at step \d+"):
        plan.training_step(batch, 0)


def test_nan_during_training_stops_and_keeps_the_last_good_checkpoint(make_config, tmp_path,
                                                                      monkeypatch):
    original = PerturbationDataset.__getitem__
    calls = {"train": 0}

    def poisoned(self, index):
        batch = original(self, index)
        if self.split == "train":
            calls["train"] += 1
            if calls["train"] > 8:        # the second epoch (6 batches per epoch)
                batch["counts"][:] = float("nan")
        return batch

    monkeypatch.setattr(PerturbationDataset, "__getitem__", poisoned)
    with pytest.raises(NonFiniteLossError, match="became nan at step"):
        train(make_config(max_epochs=5), run_dir=tmp_path / "nan")
    last = tmp_path / "nan/checkpoints/last.ckpt"
    assert last.is_file()
    saved = torch.load(last, weights_only=True)
    assert 0 < saved["global_step"] <= 8
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_weights_and_biases_logging_works_offline(make_config, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = make_config(max_steps=2)
    config.logging.wandb = True
    try:
        run = train(config, run_dir=tmp_path / "wb")
        first = wandb.run.id
        # a second training in this process (a notebook) gets its own run
        again = train(config, run_dir=tmp_path / "wb2")
        assert wandb.run.id != first
    finally:
        # train leaves its W&B run open (a sweep trial writes its summary into it before
        # closing it): close it, so later tests in this process start without one
        wandb.finish()
    assert list((run.run_dir / "wandb").glob("offline-run-*"))
    assert list((again.run_dir / "wandb").glob("offline-run-*"))


def test_gpu_request_without_gpu_is_a_clear_error(make_config, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    config = make_config()
    config.training.accelerator = "gpu"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        train(config, run_dir=tmp_path / "gpu")


def test_prior_network_initialises_the_mask(make_config, tmp_path, small_screen):
    from gpo_vae.data.prepare import prepare

    config = make_config(max_steps=1, lr=1e-6)
    names = prepare(config) \
        .adata.uns["treatments"]["name"].tolist()
    prior = tmp_path / "prior.tsv"
    prior.write_text(f"source\ttarget\n{names[0]}\t{names[1]}\n")
    config.guide.prior_network = str(prior)
    config.guide.prior_network_init = 0.95
    run = train(config, run_dir=tmp_path / "prior")
    logits = run.module.guide.mask_logits.detach()
    assert torch.sigmoid(logits[0, 1]).item() == pytest.approx(0.95, abs=0.01)
    assert torch.sigmoid(logits[1, 0]).item() == pytest.approx(0.5, abs=0.01)


def test_learning_diagnostics_are_logged_finite_and_can_choose_the_best_checkpoint(
        make_config, tmp_path):
    config = make_config(max_epochs=2, diagnostics_every_n_epochs=1,
                         checkpoint_monitor="val_ate")
    result = train(config, run_dir=tmp_path / "diag", diagnostics=diagnostics_callback)
    metrics = read_metrics(result.run_dir)
    keys = ["diag/val_ate_pearson_top20", "diag/val_ate_pearson_top20_pert_mean",
            "diag/edge_mean_abs", "diag/edge_kl_from_prior", "diag/z_basal_label_share"]
    rows = metrics.dropna(subset=keys[:1])
    assert len(rows) == 2
    for key in keys:
        assert rows[key].notna().all() and rows[key].abs().lt(1e6).all(), key
    share = rows["diag/z_basal_label_share"]
    assert 0 <= share.min() <= share.max() <= 1
    assert result.summary["checkpoint_monitor"] == "val_ate"
    assert result.summary["best_val_ate_pearson_top20"] == pytest.approx(
        rows["diag/val_ate_pearson_top20"].max(), abs=1e-4)
    assert result.best_checkpoint.is_file()


def test_checkpoint_by_val_ate_without_diagnostics_is_a_clear_error(make_config):
    with pytest.raises(ConfigError, match="diagnostics_every_n_epochs"):
        make_config(checkpoint_monitor="val_ate", diagnostics_every_n_epochs=0)


def test_without_a_terminal_training_prints_one_plain_line_per_epoch(make_config, tmp_path,
                                                                    capsys):
    from gpo_vae.progress import console_logging

    with console_logging():      # what the command line shows: progress lines on stderr
        train(make_config(max_epochs=2), run_dir=tmp_path / "plain")
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("epoch ")]
    assert [line.split(",")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train loss" in line and "cells/s" in line for line in lines)
    assert "v_num" not in captured.out + captured.err and "Params" not in captured.out


def test_an_interrupted_and_resumed_run_ends_where_an_uninterrupted_one_does(make_config,
                                                                             tmp_path):
    whole = train(make_config(max_epochs=4), run_dir=tmp_path / "whole")
    train(make_config(max_epochs=2), run_dir=tmp_path / "parts")
    parts = train(make_config(max_epochs=4), run_dir=tmp_path / "parts", resume=True)
    a, b = load_trained(whole.last_checkpoint), load_trained(parts.last_checkpoint)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)


def test_a_run_shorter_than_the_logging_interval_still_gets_its_training_plot(make_config,
                                                                             tmp_path):
    result = train(make_config(max_epochs=1, log_every_n_steps=50), run_dir=tmp_path / "short")
    assert "train/loss_step" not in read_metrics(result.run_dir)
    assert (result.run_dir / "plots" / "training_curves.png").is_file()


def test_checkpoint_by_val_ate_needs_the_diagnostics_from_the_caller(make_config, tmp_path):
    # training scores nothing itself (evaluation is a layer above): without the factory
    # a val_ate checkpoint cannot be chosen, and nothing is trained
    config = make_config(max_epochs=1, diagnostics_every_n_epochs=1,
                         checkpoint_monitor="val_ate")
    with pytest.raises(InputDataError, match="needs the learning diagnostics"):
        train(config, run_dir=tmp_path / "no_diag")
    assert not (tmp_path / "no_diag").exists() or not any((tmp_path / "no_diag").iterdir())
