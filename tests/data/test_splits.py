"""Splits: stratified cell splits and held-out perturbations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpo_vae.data.splits import assign_splits
from gpo_vae.errors import InputDataError


def _labels(n_per=100, n_perts=10, n_control=300):
    labels = ["non-targeting"] * n_control + [f"P{i}" for i in range(n_perts) for _ in range(n_per)]
    return pd.Series(labels)


def test_cell_split_is_stratified_and_seeded():
    labels = _labels()
    split = assign_splits(labels, "non-targeting", "cells", seed=1)
    assert set(split) == {"train", "val", "test"}
    for label in labels.unique():
        counts = pd.Series(split[labels == label]).value_counts(normalize=True)
        assert counts["train"] == pytest.approx(0.64, abs=0.02)
        assert counts["val"] == pytest.approx(0.16, abs=0.02)
        assert counts["test"] == pytest.approx(0.20, abs=0.02)
    assert (assign_splits(labels, "non-targeting", "cells", seed=1) == split).all()
    assert (assign_splits(labels, "non-targeting", "cells", seed=2) != split).any()


def test_perturbation_split_holds_out_whole_perturbations():
    labels = _labels()
    split = assign_splits(labels, "non-targeting", "perturbations", seed=0)
    frame = pd.DataFrame({"label": labels, "split": split})
    perts = frame[frame["label"] != "non-targeting"]
    per_pert = perts.groupby("label")["split"].agg(lambda s: set(s))
    test_perts = [p for p, s in per_pert.items() if "test" in s]
    assert len(test_perts) == 2  # 20% of 10
    assert all(per_pert[p] == {"test"} for p in test_perts)
    assert all("test" not in s for p, s in per_pert.items() if p not in test_perts)
    controls = frame.loc[frame["label"] == "non-targeting", "split"]
    assert set(controls) == {"train", "val", "test"}


def test_empty_split_is_an_error():
    labels = pd.Series(["non-targeting"] * 2 + ["A"] * 30)
    with pytest.raises(InputDataError, match="has no control cells"):
        assign_splits(labels, "non-targeting", "cells")
    with pytest.raises(InputDataError, match="split"):
        assign_splits(_labels(n_perts=1), "non-targeting", "perturbations")


def test_combination_split_holds_out_only_combinations_of_seen_singles():
    singles = ["A", "B", "C", "D"]
    combos = ["A+B", "A+C", "B+C", "C+D", "A+E", "B+D"]        # E has no single cells
    labels = pd.Series(np.repeat(["ctrl", *singles, *combos], 40))
    split = assign_splits(labels, "ctrl", "combinations", seed=0, separator="+")
    held_out = set(labels[split == "test"]) - {"ctrl"}
    assert held_out and held_out <= {"A+B", "A+C", "B+C", "C+D", "B+D"}
    for label in held_out:                                     # whole combinations
        assert (split[labels == label] == "test").all()
    seen = set(labels[split == "train"])
    assert set(singles) <= seen and "A+E" in seen               # singles always trained
    assert seen & set(combos) - {"A+E"}                         # some doubles are seen
    with pytest.raises(InputDataError, match="combination_separator"):
        assign_splits(labels, "ctrl", "combinations")
    with pytest.raises(InputDataError, match="no combination"):
        assign_splits(pd.Series(np.repeat(["ctrl", "A", "B"], 40)), "ctrl", "combinations",
                      separator="+")


def test_subsample_training_caps_training_cells_and_keeps_every_held_out_cell():
    from gpo_vae.data.splits import subsample_training

    labels = np.array(["ctrl"] * 30 + ["A"] * 30 + ["B"] * 4 + ["A+B"] * 12)
    split = np.array((["train", "train", "test"] * 30 + ["train"] * 16)[:labels.size])
    keep = subsample_training(split, labels, "ctrl", n_cells=5, seed=0)
    kept_train = pd.Series(labels[keep & (split == "train")]).value_counts()
    assert kept_train["A"] == 5 and kept_train["A+B"] == 5
    assert kept_train["B"] == (split[labels == "B"] == "train").sum()     # fewer than the cap
    assert kept_train["ctrl"] == (split[labels == "ctrl"] == "train").sum()   # controls stay
    assert keep[split != "train"].all()
    # the same seed and cap keep the same cells; another cap keeps others
    np.testing.assert_array_equal(keep, subsample_training(split, labels, "ctrl", 5, 0))
