import numpy as np
import pytest
import scipy.sparse as sp

from gpo_vae.evaluation.ate import ate_from_cells, perturbseq_transform
from gpo_vae.evaluation.evaluate import split_ates


def test_perturbseq_transform_by_hand_sparse_and_dense_agree():
    counts = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    expected = np.log2(1 + 1e4 * counts / counts.sum(1, keepdims=True))
    assert np.allclose(perturbseq_transform(counts), expected, atol=1e-5)
    sparse = perturbseq_transform(sp.csr_matrix(counts))
    assert sp.issparse(sparse) and sparse.nnz == 4          # zeros stay zeros
    assert np.allclose(sparse.toarray(), expected, atol=1e-4)
    library = np.array([8.0, 8.0])                          # an explicit library size
    assert np.allclose(perturbseq_transform(counts, library),
                       np.log2(1 + 1e4 * counts / 8.0), atol=1e-4)


def test_ate_is_the_difference_of_group_means():
    x = sp.csr_matrix(np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 4.0], [2.0, 2.0]]))
    labels = np.array(["A", "A", "ctrl", "ctrl"])
    table = ate_from_cells(x, labels, "ctrl", ["g1", "g2"])
    assert table.values.loc["A"].tolist() == [2.0 - 1.0, 0.0 - 3.0]
    assert table.n_cells["A"] == 2 and table.n_control_cells == 2
    with pytest.raises(ValueError, match="no control"):
        ate_from_cells(x[:2], labels[:2], "ctrl", ["g1", "g2"])


def test_data_ates_use_only_the_requested_split():
    """A huge effect planted in training cells only must not reach the test ATE."""
    rng = np.random.default_rng(0)
    n, genes = 400, [f"g{i}" for i in range(5)]
    labels = np.where(np.arange(n) % 2 == 0, "A", "ctrl")
    split = np.where(np.arange(n) < 300, "train", "test")
    x = rng.normal(size=(n, 5))
    x[(labels == "A") & (split == "train"), 0] += 100.0     # leakage bait
    test = split_ates(x, labels, split, "test", "ctrl", genes)
    train = split_ates(x, labels, split, "train", "ctrl", genes)
    assert abs(test.values.loc["A", "g0"]) < 1.0
    assert train.values.loc["A", "g0"] > 99.0
    assert test.n_cells["A"] == 50
