import logging

import numpy as np
import pandas as pd
import pytest

from gpo_vae.data import gene_features as gf
from gpo_vae.errors import InputFileError


def test_pca_embedding_scores_genes_on_the_centred_conditions():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(40)]
    program = rng.normal(size=40)
    # six conditions that move genes along one program, plus noise
    means = np.outer(rng.normal(size=6), program) + 0.01 * rng.normal(size=(6, 40)) + 3.0
    emb = gf.pca_gene_embedding(means, genes, n_components=3)
    assert emb.shape == (40, 3) and list(emb.index) == genes
    # the first component is the program (up to sign)
    assert abs(np.corrcoef(emb["pca_0"], program)[0, 1]) > 0.99
    # fewer conditions than components: as many as the data hold
    assert gf.pca_gene_embedding(means[:3], genes, n_components=10).shape == (40, 2)


def test_treatment_features_standardise_blocks_and_name_genes_no_block_covers(caplog):
    a = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=["A", "B", "C"])
    b = pd.DataFrame({"y": [10.0, 30.0]}, index=["B", "D"])
    features, missing = gf.treatment_features(["A", "D", "Z"], [a, b])
    assert features.shape == (3, 2) and features.dtype == np.float32
    np.testing.assert_allclose(features[:, 0], [-1.2247449, 0.0, 0.0], rtol=1e-5)
    np.testing.assert_allclose(features[:, 1], [0.0, 1.0, 0.0], rtol=1e-5)
    assert missing == ["Z"]
    with caplog.at_level(logging.WARNING):
        gf.warn_missing(missing, 3)
    assert "1 of 3 treatment genes have no gene features (Z)" in caplog.text


def test_neighbour_features_average_the_neighbours_rows():
    features = pd.DataFrame({"x": [1.0, 3.0]}, index=["A", "B"])
    edges = pd.DataFrame({"source": ["A", "C", "C"], "target": ["C", "B", "X"]})
    out = gf.neighbour_features(features, edges, ["C", "D"])
    assert out.loc["C", "net_x"] == pytest.approx(2.0)     # A and B, either direction
    assert out.loc["D", "net_x"] == 0.0                     # no neighbour with features


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_gene_table_reads_genes_by_dimensions(tmp_path, suffix):
    sep = "," if suffix == ".csv" else "\t"
    path = tmp_path / f"emb{suffix}"
    path.write_text(f"gene{sep}d0{sep}d1\nA{sep}1{sep}2\nB{sep}3{sep}4\n")
    table = gf.read_gene_table(path)
    assert table.shape == (2, 2) and list(table.index) == ["A", "B"]


@pytest.mark.parametrize("text, match", [
    ("gene,d0\nA,1\nA,2\n", "twice"),
    ("gene,d0\nA,x\n", "numeric"),
])
def test_read_gene_table_refuses_bad_tables(tmp_path, text, match):
    path = tmp_path / "emb.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=match):
        gf.read_gene_table(path)
    with pytest.raises(InputFileError, match="does not exist"):
        gf.read_gene_table(tmp_path / "missing.csv")


@pytest.mark.parametrize("sparse", [False, True])
def test_coexpression_slopes_follow_each_treatment_gene(sparse):
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    regulator = rng.normal(size=500)
    expression = np.column_stack([
        regulator,                                        # gene 0: a treatment gene
        2.0 * regulator + 0.1 * rng.normal(size=500),     # gene 1 follows it (slope 2)
        rng.normal(size=500),                             # gene 2 does not
        -0.5 * regulator + 0.1 * rng.normal(size=500),    # gene 3 falls with it
    ]) + 3.0
    matrix = sp.csr_matrix(expression) if sparse else expression
    # treatment genes: gene 0, one not measured, gene 2
    index, values = gf.coexpression_slopes(matrix, np.array([0, -1, 2]), top_k=2)
    assert index.shape == values.shape == (2, 2)          # measured treatment genes only
    first = dict(zip(index[0], values[0], strict=True))
    assert set(first) == {1, 3}                           # the two that follow gene 0
    assert first[1] == pytest.approx(2.0, abs=0.05)
    assert first[3] == pytest.approx(-0.5, abs=0.05)
    assert 2 not in index[1]                              # never a gene's own column
    assert np.abs(values[1]).max() < 0.2                  # nothing follows gene 2


def test_coexpression_slopes_of_a_constant_gene_are_zero():
    expression = np.column_stack([np.ones(10), np.arange(10.0)])
    index, values = gf.coexpression_slopes(expression, np.array([0]), top_k=5)
    assert index.shape == (1, 1) and np.all(values == 0)
