"""The ablation script's kinds of perturbation, which its paired verdicts are grouped by."""

import pandas as pd
import pytest
from benchmark_scripts import load_script


@pytest.fixture(scope="module")
def ablation():
    return load_script("ablation")


def test_kinds_of_a_cells_split(ablation):
    rows = pd.DataFrame({"n_train_cells": [30, 30, 25, 20]}, index=["A", "B", "A+B", "A+C"])
    kinds = {label: ablation._kind(label, rows) for label in rows.index}
    assert kinds == {"A": "single", "B": "single", "A+B": "double of seen singles",
                     "A+C": "double, a gene never alone"}


def test_held_out_doubles_of_a_combinations_split_are_of_seen_singles(ablation):
    # split=combinations: the singles were trained on but have no test rows
    rows = pd.DataFrame({"n_train_cells": [0]}, index=["A+B"])
    assert ablation._kind("A+B", rows) == "unseen double, a gene never alone"
    assert ablation._kind("A+B", rows, singles_in_training=True) == \
        "unseen double of seen singles"
    assert ablation._spec("combinations_heldout")["overrides"][0] == "data.split=combinations"
