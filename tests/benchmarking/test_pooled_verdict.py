"""benchmarks/pooled_verdict.py: one paired verdict over several screens' perturbations."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import BENCHMARKS, load_script


@pytest.fixture()
def pooled_script(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    script = load_script("pooled_verdict")
    import ablation

    monkeypatch.setattr(ablation, "OUT", tmp_path)
    return script


def _write(folder, scores: dict[str, np.ndarray]) -> None:
    """per_perturbation.csv of one seed: each method's score per perturbation."""
    folder.mkdir(parents=True)
    n = len(next(iter(scores.values())))
    rows = [{"perturbation": f"G{i}", "n_train_cells": 20, "method": method,
             "pearson_top20": values[i]} for method, values in scores.items() for i in range(n)]
    pd.DataFrame(rows).to_csv(folder / "per_perturbation.csv", index=False)


def test_screens_are_pooled_perturbation_by_perturbation(pooled_script, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for data in ("demo_fewcells", "demo_fewcells_seed1"):
        base = rng.uniform(0.2, 0.6, 12)
        for setting, gain in (("anchored", 0.05), ("anchored-knockdown_shrinkage", 0.0)):
            _write(tmp_path / data / setting / "seed0" / "eval_last",
                   {"model": base + gain + rng.normal(0, 0.005, 12),
                    "baseline_pert_mean": base})
    scores = pooled_script.pooled(["demo_fewcells", "demo_fewcells_seed1"], "anchored",
                                  "anchored-knockdown_shrinkage")
    # 12 perturbations of each screen, the same names kept apart by their screen
    assert len(scores) == 24 and scores.index[0].startswith("demo_fewcells:")
    lines = pooled_script.verdict_lines(scores, "anchored-knockdown_shrinkage")
    assert any("beats per-perturbation mean" in line and "(24)" in line for line in lines)
    assert any("beats anchored-knockdown_shrinkage" in line for line in lines)


def test_a_screen_without_results_names_the_command(pooled_script):
    with pytest.raises(SystemExit, match="ablation.py --data demo_fewcells"):
        pooled_script.pooled(["demo_fewcells"], "anchored", None)
