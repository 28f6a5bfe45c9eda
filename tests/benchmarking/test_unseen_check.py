"""The model-free check of unseen-perturbation estimators (benchmarks/unseen_check.py)."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def unseen_check():
    return load_script("unseen_check")


@pytest.fixture(scope="module")
def prepared_unseen(small_screen, tmp_path_factory):
    import gpo_vae as gv
    from gpo_vae.io import write_h5ad_atomic

    path = tmp_path_factory.mktemp("unseen") / "prepared.h5ad"
    write_h5ad_atomic(gv.prepare(small_screen, preset="simulated", split="perturbations"),
                      path)
    return path


def test_own_and_downstream_start_from_the_median_own_shift(unseen_check, prepared_unseen):
    import anndata as ad

    from gpo_vae.evaluation.evaluate import SplitCells

    cells = SplitCells.from_prepared(ad.read_h5ad(prepared_unseen), "test")
    train = cells.ates("train")
    names = [p for p in cells.ates("test").values.index if p != cells.control
             and p not in train.values.index]
    alone, spread = unseen_check.own_and_downstream(cells, train, names, top_k=5)
    own = np.median([train.values.loc[p, p] for p in train.values.index
                     if p in train.values.columns])
    for name in names:
        assert alone.loc[name, name] == pytest.approx(own)           # the own gene ...
        assert (alone.loc[name].drop(name) == 0).all()               # ... and nothing else
        assert spread.loc[name, name] == pytest.approx(own)
        assert 0 < (spread.loc[name].drop(name) != 0).sum() <= 5     # its top-5 followers


def test_the_check_prints_every_estimator_against_ridge(unseen_check, prepared_unseen,
                                                         capsys, tmp_path):
    import anndata as ad
    import pandas as pd

    # a model's evaluations of two seeds: 0.2 and 0.4 for every held-out perturbation
    labels = ad.read_h5ad(prepared_unseen).obs["perturbation"].astype(str).unique()
    paths = []
    for seed, value in enumerate((0.2, 0.4)):
        paths.append(tmp_path / f"seed{seed}.csv")
        pd.DataFrame({"perturbation": labels, "method": "model",
                      "pearson_top20": value}).to_csv(paths[-1], index=False)
    assert unseen_check.main([str(prepared_unseen), "--min-test-cells", "3",
                              "--model", *map(str, paths)]) == 0
    table = capsys.readouterr().out
    for method in ("ridge", "own", "own + downstream", "ridge + own + downstream"):
        assert f"| {method} |" in table
    assert "| GPO-VAE | 0.300 |" in table                 # averaged over the seeds
    assert "GPO-VAE against ridge + own + downstream" in table
