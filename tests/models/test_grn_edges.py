"""The learned GRN's edge table: ``top_k`` is None (every edge) or a positive count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gpo_vae.errors import ConfigError
from gpo_vae.models.grn import LearnedGrn, check_top_k


@pytest.fixture()
def grn():
    probabilities = np.array([[0.0, 0.9, 0.2], [0.8, 0.0, 0.1], [0.3, 0.4, 0.0]])
    genes = pd.DataFrame({"name": ["A", "B", "C"], "kind": ["perturbed"] * 3,
                          "measured": [True] * 3, "train_cells": [10] * 3})
    return LearnedGrn(genes, probabilities, probabilities - 0.5)


def test_top_k_none_keeps_every_edge_and_a_count_keeps_the_best(grn):
    assert len(grn.edges(0.0)) == 6
    assert len(grn.edges(0.0, None)) == 6
    best = grn.edges(0.0, np.int64(2))
    assert list(zip(best["source"], best["target"], strict=True)) == [("A", "B"), ("B", "A")]
    assert len(grn.edges(0.0, 100)) == 6


@pytest.mark.parametrize("top_k", [-1, 0, 2.5, True, "3"])
def test_a_top_k_that_is_not_a_positive_count_is_refused(grn, top_k):
    # -1 used to slice the last edge off without a word
    with pytest.raises(ConfigError, match="is not a number of edges"):
        grn.edges(0.0, top_k)
    with pytest.raises(ConfigError, match="^--top-k"):
        check_top_k(top_k, "--top-k")


@pytest.mark.parametrize("bad", [-0.1, 1.5, 2, "0.5", True, float("nan")])
def test_an_edge_threshold_outside_zero_one_is_a_one_line_error(bad):
    from gpo_vae.models.grn import check_threshold

    with pytest.raises(ConfigError, match="not an edge probability"):
        check_threshold(bad)
    assert check_threshold(0) == 0.0 and check_threshold(0.5) == 0.5
