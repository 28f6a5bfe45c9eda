"""docs/tutorial.py runs from start to end (few epochs) and writes what it shows."""

from __future__ import annotations

import runpy
from pathlib import Path

import matplotlib
import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.py"


@pytest.mark.integration
def test_the_tutorial_runs_and_writes_its_plots(tmp_path, monkeypatch, capsys):
    matplotlib.use("Agg")
    monkeypatch.setenv("GPO_VAE_TUTORIAL_EPOCHS", "2")
    monkeypatch.setenv("GPO_VAE_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    runpy.run_path(str(TUTORIAL), run_name="__main__")
    out = capsys.readouterr().out
    assert "identical predictions: True" in out
    assert "baseline_pert_mean" in out
    for plot in ("run/plots/training_curves.png", "evaluation/plots/ate_comparison.png",
                 "evaluation/plots/grn_precision_recall.png"):
        assert (tmp_path / plot).is_file(), plot
    assert (tmp_path / "saved_model" / "checkpoints" / "best.ckpt").is_file()
