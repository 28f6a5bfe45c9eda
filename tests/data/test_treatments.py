"""Treatment genes and dosages, including combination labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpo_vae.data.counterfactual import counterfactual_profiles
from gpo_vae.data.treatments import dosage_matrix, perturbed_genes, targets_of, treatment_table


def test_combination_labels_split_on_the_separator():
    assert targets_of("A+B", "ctrl", "+") == ["A", "B"]
    assert targets_of("A+ctrl", "ctrl", "+") == ["A"]
    assert targets_of("A+B", "ctrl", None) == ["A+B"]
    assert targets_of("ctrl", "ctrl", "+") == []


def test_dosages_mark_every_perturbed_gene():
    labels = pd.Series(["ctrl", "A", "B", "A+B", "A"])
    genes = perturbed_genes(labels, "ctrl", "+")
    assert genes == ["A", "B"]
    table = treatment_table(genes, ["X1"], measured={"A", "X1"})
    assert table["kind"].tolist() == ["perturbed", "perturbed", "extra"]
    assert table["measured"].tolist() == [True, False, True]
    D = dosage_matrix(labels, "ctrl", "+", table["name"].tolist()).toarray()
    np.testing.assert_array_equal(
        D, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]])


def test_counterfactual_is_the_median_of_opposite_qc_cells_in_the_same_split():
    import scipy.sparse as sp

    counts = sp.csr_matrix(np.array([[1, 10], [3, 30], [5, 50], [100, 0], [7, 7]], float))
    labels = np.array(["A", "A", "A", "A", "B"])
    qc = np.array([False, False, False, True, False])
    split = np.array(["train"] * 4 + ["train"])
    profiles, index = counterfactual_profiles(counts, labels, qc, split, max_cells=50)
    # good A cells point at the bad A cell's profile; the bad A cell at the median of good
    np.testing.assert_allclose(profiles[index[0]], [100, 0])
    np.testing.assert_allclose(profiles[index[3]], [3, 30])
    assert index[4] == -1  # B has no QC-failing cell
    other_split = np.array(["train", "train", "train", "test", "train"])
    _, index = counterfactual_profiles(counts, labels, qc, other_split)
    assert index[0] == -1 and index[3] == -1
