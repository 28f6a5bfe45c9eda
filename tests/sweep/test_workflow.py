"""A real sweep through redun's scheduler: two grid trials, the results table, the best
trial on the test split, and a second run served from redun's cache."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweep_files import write_sweep

from gpo_vae.cli import main

pytestmark = pytest.mark.integration  # real sweeps: every trial trains


def _body_runs(out) -> int:
    """How many times any trial's body ran (each run appends a 'starts' line)."""
    return sum(log.read_text().count(" starts: ") for log in out.glob("trials/*/trial.log"))


def test_two_trial_grid_sweep_runs_reports_and_reuses_the_cache(base_config, tmp_path,
                                                                 capsys):
    out = tmp_path / "sweep"
    sweep = write_sweep(tmp_path / "tiny.yaml", base_config, out)
    args = ["sweep", str(sweep), "--workers", "2", "--quiet"]

    assert main(args) == 0
    first = capsys.readouterr().out
    table = pd.read_csv(out / "sweep_results.csv")
    assert len(table) == 2 and set(table["status"]) == {"ok"}
    assert sorted(table["loss.gloss_coeff"]) == [1, 100]
    metric = "ate.model.pearson_top20"
    assert table[metric].notna().all()
    assert table[metric].is_monotonic_decreasing  # best first (goal: maximize)
    for column in ("ate.baseline_pert_mean.pearson_top20", "iwelbo_val",
                   "train.best_val_loss", "run_dir"):
        assert column in table.columns
    best = table.iloc[0]
    best_line = next(line for line in first.splitlines() if line.startswith("best trial"))
    assert best["trial_id"] in best_line and f"{best[metric]:.4f}" in best_line
    assert "test split" in first and "baseline_pert_mean" in first
    assert (out / "sweep_results.png").is_file() and (out / "best_trial.json").is_file()
    assert (out / ".redun" / "redun.db").is_file()
    for run_dir in table["run_dir"]:
        assert (Path(run_dir) / "eval_val" / "metrics.json").is_file()
    assert _body_runs(out) == 2
    recorded = yaml.safe_load((out / "sweep.yaml").read_text())
    assert recorded["method"] == "grid" and len(recorded["trials"]) == 2
    assert {t["trial_id"] for t in recorded["trials"]} == set(table["trial_id"])

    # second run: every trial comes from redun's cache, the table is written again
    (out / "sweep_results.csv").unlink()
    assert main(args) == 0
    second = capsys.readouterr().out
    assert _body_runs(out) == 2
    again = pd.read_csv(out / "sweep_results.csv")
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
    assert best_line in second

    # a trial whose validation result went missing runs again, without training again
    trial_dir = Path(table["run_dir"].iloc[1])
    (trial_dir / "eval_val" / "metrics.json").unlink()
    assert main(args) == 0
    assert _body_runs(out) == 3
    assert "training already finished" in (trial_dir / "trial.log").read_text()
    assert (trial_dir / "eval_val" / "metrics.json").is_file()


def test_trials_whose_data_cannot_be_prepared_fail_alone(base_config, tmp_path, capsys):
    out = tmp_path / "sweep"
    sweep = write_sweep(tmp_path / "tiny.yaml", base_config, out,
                        parameters={"data.min_cells": {"values": [5, 100000]}})
    assert main(["sweep", str(sweep), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "sweep_results.csv")
    assert list(table["status"]) == ["ok", "failed"]
    assert table["error"].iloc[1].startswith("preparing the data failed")
    assert "1 ok, 1 failed" in printed and "best trial" in printed
