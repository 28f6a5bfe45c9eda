"""RowMatrix (gpo_vae/data/rows.py): the same blocks from memory and from an h5ad on
disk, row subsets of subsets, reads in any order, per-block transforms, and handles that
survive pickling (data-loader workers)."""

from __future__ import annotations

import pickle

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gpo_vae.data.prepare import read_prepared
from gpo_vae.data.rows import RowMatrix, counts_of, uniform_index_dtype
from gpo_vae.errors import InputDataError
from gpo_vae.io import write_h5ad_in_blocks
from gpo_vae.stats import log_normalize


@pytest.fixture(scope="module")
def matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    return sp.csr_matrix(rng.poisson(0.3, (400, 30)).astype(np.float32))


@pytest.fixture(scope="module")
def on_disk(matrix, tmp_path_factory) -> RowMatrix:
    path = tmp_path_factory.mktemp("rows") / "m.h5ad"
    ad.AnnData(X=matrix).write_h5ad(path)
    return RowMatrix.from_h5ad(path)


def _same(a, b) -> bool:
    return a.shape == b.shape and abs(sp.csr_matrix(a) - sp.csr_matrix(b)).max() == 0


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_reads_match_the_matrix(matrix, on_disk, where):
    rows = RowMatrix(matrix) if where == "memory" else on_disk
    assert rows.shape == matrix.shape and rows.nnz == matrix.nnz
    assert _same(rows[10:50], matrix[10:50])
    shuffled = np.array([399, 3, 3, 250, 0, 17])  # any order, repeats allowed
    assert _same(rows[shuffled], matrix[shuffled])
    mask = np.arange(400) % 7 == 0
    assert _same(rows[mask], matrix[mask])
    assert np.allclose(np.asarray(rows.sum(axis=0)).ravel(), np.asarray(matrix.sum(axis=0)).ravel())
    assert np.allclose(np.asarray(rows.sum(axis=1)).ravel(), np.asarray(matrix.sum(axis=1)).ravel())
    assert _same(rows.columns([4, 1, 29], block_rows=64), matrix[:, [4, 1, 29]])


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_subset_of_subset_and_blocks(matrix, on_disk, where):
    rows = RowMatrix(matrix) if where == "memory" else on_disk
    first = np.flatnonzero(np.arange(400) % 3 != 0)
    inner = rows.subset(first).subset(np.arange(0, first.size, 2))
    expected = matrix[first][::2]
    assert inner.shape == expected.shape and inner.nnz == expected.nnz
    stacked = sp.vstack([block for _, block in inner.blocks(block_rows=37)])
    assert _same(stacked, expected)
    assert [start for start, _ in inner.blocks(block_rows=37)][:3] == [0, 37, 74]


def test_transform_applies_per_block(matrix, on_disk):
    lognorm = on_disk.map_blocks(log_normalize)
    assert np.allclose(lognorm[5:300].toarray(), log_normalize(matrix[5:300]).toarray(),
                       atol=1e-6)
    assert np.allclose(lognorm.subset(np.array([7, 2]))[[1, 0]].toarray(),
                       log_normalize(matrix[[2, 7]]).toarray(), atol=1e-6)


def test_on_disk_survives_pickling(matrix, on_disk):
    on_disk[0:5]  # opens the file in this process
    copy = pickle.loads(pickle.dumps(on_disk.subset(np.arange(100, 200))))
    assert _same(copy[0:10], matrix[100:110])


def test_counts_of_backed_and_in_memory(matrix, on_disk):
    backed = ad.read_h5ad(on_disk.source.path, backed="r")
    assert counts_of(backed).on_disk and _same(counts_of(backed)[0:20], matrix[0:20])
    assert not counts_of(ad.AnnData(X=matrix)).on_disk


def test_dense_on_disk_matrix_is_a_clear_error(tmp_path):
    path = tmp_path / "dense.h5ad"
    ad.AnnData(X=np.ones((4, 3), dtype=np.float32)).write_h5ad(path)
    with pytest.raises(InputDataError, match="not CSR"):
        RowMatrix.from_h5ad(path)
    with pytest.raises(InputDataError, match="does not exist"):
        RowMatrix.from_h5ad(tmp_path / "missing.h5ad")


def test_mixed_index_dtypes_are_made_one_without_copying_the_counts(matrix):
    # as read from an h5ad: int64 indptr, int32 indices (scipy then upcasts every
    # index array on each row selection)
    mixed = matrix.copy()
    mixed.indptr = mixed.indptr.astype(np.int64)  # set after construction: scipy unifies
    assert mixed.indices.dtype == np.int32
    uniform = uniform_index_dtype(mixed)
    assert uniform.indptr.dtype == uniform.indices.dtype == np.int32
    assert np.shares_memory(uniform.data, mixed.data)
    assert np.shares_memory(uniform.indices, mixed.indices)
    assert (uniform != mixed).nnz == 0
    served = RowMatrix(mixed).source
    assert served.indptr.dtype == served.indices.dtype
    rows = np.array([5, 1, 1, 7])
    assert (RowMatrix(mixed)[rows] != mixed[rows]).nnz == 0


def test_read_prepared_in_memory_has_one_index_dtype(tmp_path, matrix):
    path = tmp_path / "x.h5ad"  # written as prepare writes it: 64-bit row pointers
    shell = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(400)]),
                       var=pd.DataFrame(index=[f"g{j}" for j in range(30)]))
    write_h5ad_in_blocks(shell,
                         [matrix[:250], matrix[250:]], matrix.shape[1], path)
    assert ad.read_h5ad(path).X.indptr.dtype != ad.read_h5ad(path).X.indices.dtype
    prepared = read_prepared(path)
    assert prepared.X.indptr.dtype == prepared.X.indices.dtype
    assert (prepared.X != matrix).nnz == 0
