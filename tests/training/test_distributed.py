"""Data-parallel training on CPU (gloo): Lightning's ddp launcher runs the command again
as a second process, each rank takes every other batch, and only rank 0 writes the run
folder. Also mixed precision on CPU (bf16-mixed), which keeps the likelihood in float32."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

EPOCHS = 40


def _train(config: Path, out: Path, *sets: str, resume: bool = False) -> dict:
    exe = Path(sys.executable).with_name("gpo-vae")
    cmd = [str(exe), "train", "--config", str(config), "--out", str(out), "--quiet",
           *(["--resume"] if resume else [])]
    for item in sets:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "training_summary.json").read_text())


def _final_val(run: Path) -> pd.Series:
    (metrics,) = run.glob("logs/*/metrics.csv")
    return pd.read_csv(metrics).dropna(subset=["val/loss"]).iloc[-1]


@pytest.fixture()
def ddp_config(tiny_settings, small_screen_path, shared_cache, tmp_path) -> Path:
    # the pseudobulk term is a per-batch statistic (its value depends on how many cells a
    # batch has), so with it the two runs would optimise different objectives
    settings = tiny_settings(tmp_path, small_screen_path, shared_cache, name="ddp",
                             loss={"pseudobulk_coeff": 0},
                             training={"max_epochs": EPOCHS, "early_stopping_patience": EPOCHS,
                                       "diagnostics_every_n_epochs": 0, "accelerator": "cpu",
                                       "strategy": "ddp"})
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_two_processes_reach_the_loss_of_one_and_write_the_run_folder_once(ddp_config,
                                                                        tmp_path):
    # the same global batch: 2 ranks x 64 cells against 1 x 128
    one = _train(ddp_config, tmp_path / "one", "training.devices=1", "data.batch_size=128")
    two = _train(ddp_config, tmp_path / "two", "training.devices=2", "data.batch_size=64")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # each rank takes every other batch of the same permutation (the odd one left out)
    assert two["steps"] < one["steps"] and two["epochs"] == one["epochs"] == EPOCHS
    loss_one, loss_two = _final_val(tmp_path / "one"), _final_val(tmp_path / "two")
    for key in ("val/loss", "val/elbo"):
        assert loss_two[key] == pytest.approx(loss_one[key], rel=0.03), key
    # rank 0 alone wrote the folder: one log version, one summary, both checkpoints
    assert [p.name for p in (tmp_path / "two" / "logs").iterdir()] == ["version_0"]
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == \
        ["best.ckpt", "last.ckpt"]
    assert not (tmp_path / "two" / ".lock").exists()
    # a 2-process checkpoint resumes on 1 process
    resumed = _train(ddp_config, tmp_path / "two", "training.devices=1", "data.batch_size=64",
                     f"training.max_epochs={EPOCHS + 2}", resume=True)
    assert resumed["epochs"] == EPOCHS + 2 and resumed["world_size"] == 1


def test_the_likelihood_stays_in_float32_under_mixed_precision():
    from gpo_vae.models.distributions import negative_binomial_log_likelihood

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 50)
    counts = torch.poisson(torch.full((3, 50), 20.0))
    library, theta = counts.sum(-1), torch.full((50,), 2.0)
    exact = negative_binomial_log_likelihood(logits, counts, library, theta)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = negative_binomial_log_likelihood(logits.bfloat16(), counts, library, theta)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact, rtol=1e-3, atol=0.5)


@pytest.mark.integration
def test_training_with_bf16_mixed_precision_runs_on_cpu(make_config):
    from gpo_vae.training.train import train

    result = train(make_config(precision="bf16-mixed", max_steps=4))
    assert result.summary["steps"] == 4
    assert torch.isfinite(torch.as_tensor(result.summary["best_val_loss"] or 0.0))
