"""The learning curve over training cells per perturbation (model-free methods only, so
nothing trains; the same held-out cells at every point)."""

import pandas as pd
import pytest

from gpo_vae.cli import main


@pytest.mark.integration   # prepares, benchmarks and writes the whole curve
def test_learning_curve_scores_every_point_on_the_same_test_cells(benchmark_config, tmp_path,
                                                                  capsys):
    out = tmp_path / "curve"
    code = main(["benchmark", str(benchmark_config()), "--methods", "pert_mean", "ridge",
                 "--cells-per-perturbation", "20", "3", "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "learning_curve.csv")
    assert set(table["cells"]) == {3, 20}
    assert {"pert_mean", "ridge", "ceiling_split_half"} <= set(table["method"])
    for name in ("learning_curve.md", "learning_curve.png", "cells_3/benchmark.csv",
                 "cells_20/benchmark.csv"):
        assert (out / name).is_file(), name
    # the ceiling is computed from test cells only: the same at every point
    ceiling = table[table["method"] == "ceiling_split_half"].set_index("cells")["mean"]
    assert ceiling[3] == ceiling[20]
    # three cells per perturbation make a noisier group mean than twenty
    mean = table[table["method"] == "pert_mean"].set_index("cells")["mean"]
    assert mean[3] < mean[20]
    assert "training cells per perturbation" in capsys.readouterr().out
