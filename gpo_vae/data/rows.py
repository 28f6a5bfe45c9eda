"""Cells x genes count matrices read a block of rows at a time, from memory or from disk.

Genome-wide screens (millions of cells) do not fit in memory, but every step of
preparation and training reads cells in row blocks or batches. :class:`RowMatrix` is
the one interface for both: an in-memory scipy CSR matrix, or the CSR ``X`` (or a
layer) of an h5ad file read through AnnData's backed sparse datasets, optionally
restricted to a subset of rows and log-normalised on the fly. Indexing with a slice or
an integer array returns a float32 CSR block, as a scipy matrix does, so the chunked
statistics (QC metrics, rank sums, library sizes) run unchanged on either.

Written here because AnnData's backed mode offers row reads but no row subsets of a
subset, no per-block transform and no handle that survives a fork into a data-loader
worker; the reads themselves are AnnData's (``anndata.io.sparse_dataset``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from gpo_vae.errors import InputDataError

#: Rows per block when a whole matrix is streamed (about 30 MB of counts at 8k genes).
BLOCK_ROWS = 8192


class _DiskSource:
    """A CSR matrix inside an h5ad file, opened lazily once per process (h5py handles do
    not survive ``fork``, and pickling sends only the path)."""

    def __init__(self, path: str | os.PathLike, key: str = "X"):
        self.path, self.key = str(path), key
        self._handle = self._matrix = None
        self._pid = None
        matrix = self._open()
        self.shape = tuple(int(s) for s in matrix.shape)
        self.indptr = np.asarray(matrix.group["indptr"][...], dtype=np.int64)

    def _open(self):
        if self._matrix is None or self._pid != os.getpid():
            import h5py
            from anndata.io import sparse_dataset

            self._handle = h5py.File(self.path, "r")
            if self.key not in self._handle:
                raise InputDataError(f"{self.path!r} has no matrix {self.key!r}; set "
                                     "data.counts_layer to a layer that exists")
            element = self._handle[self.key]
            encoding = element.attrs.get("encoding-type", "")
            if encoding != "csr_matrix":
                raise InputDataError(
                    f"{self.key} in {self.path!r} is stored as {encoding or 'a dense array'}, "
                    "not CSR, so it cannot be read a block of cells at a time; rewrite it "
                    "with adata.X = scipy.sparse.csr_matrix(adata.X) or set data.backed=false")
            self._matrix, self._pid = sparse_dataset(element), os.getpid()
        return self._matrix

    def __getstate__(self):
        return {"path": self.path, "key": self.key, "shape": self.shape,
                "indptr": self.indptr, "_handle": None, "_matrix": None, "_pid": None}

    def read(self, rows: np.ndarray) -> sp.csr_matrix:
        """Sorted, unique source rows; a contiguous range is read as one slice."""
        matrix = self._open()
        if rows.size and rows[-1] - rows[0] + 1 == rows.size:
            return matrix[int(rows[0]) : int(rows[-1]) + 1]
        span = rows[-1] - rows[0] + 1 if rows.size else 0
        if rows.size and span <= 2 * rows.size:  # dense enough: one slice, then select
            return matrix[int(rows[0]) : int(rows[-1]) + 1][rows - rows[0]]
        return matrix[rows]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = self._matrix = None


def uniform_index_dtype(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same CSR matrix (sharing its data) with ``indptr`` and ``indices`` of one dtype.

    h5ad files store ``indptr`` as int64 and ``indices`` as int32; scipy then upcasts
    the whole ``indices`` array to int64 on every fancy row selection, a transient copy
    of 8 bytes per stored count per batch (2.1 GB at a time on the ``large`` preset)."""
    if matrix.indptr.dtype == matrix.indices.dtype:
        return matrix
    if matrix.nnz < np.iinfo(np.int32).max:  # int32 fits: narrow the short indptr
        indptr, indices = (matrix.indptr.astype(np.int32, copy=False),
                           matrix.indices.astype(np.int32, copy=False))
    else:
        indptr, indices = (matrix.indptr.astype(np.int64, copy=False),
                           matrix.indices.astype(np.int64, copy=False))
    return sp.csr_matrix((matrix.data, indices, indptr), shape=matrix.shape, copy=False)


class RowMatrix:
    """Rows of a count matrix (in memory or on disk) served as float32 CSR blocks.

    Parameters
    ----------
    source
        A scipy sparse or dense matrix, or a :class:`RowMatrix` to take rows of.
    rows
        Positions of the rows to serve (default: all), in the order served.
    transform
        Applied to every block read (e.g. :func:`gpo_vae.stats.log_normalize`); it must
        act on each row alone, so a block's result does not depend on its neighbours.

    Examples
    --------
    >>> counts = RowMatrix.from_h5ad("screen.h5ad")           # doctest: +SKIP
    >>> for start, block in counts.blocks():                   # doctest: +SKIP
    ...     totals = block.sum(axis=1)
    """

    def __init__(self, source, rows: np.ndarray | None = None,
                 transform: Callable | None = None):
        if isinstance(source, RowMatrix):
            base_rows = source.rows
            rows = base_rows if rows is None else base_rows[np.asarray(rows)]
            if source.transform is not None and transform is not None:
                inner, outer = source.transform, transform
                transform = lambda block: outer(inner(block))  # noqa: E731
            else:
                transform = transform or source.transform
            source = source.source
        elif not isinstance(source, _DiskSource):
            source = uniform_index_dtype(sp.csr_matrix(source, dtype=np.float32))
        self.source = source
        n_source = source.shape[0]
        self.rows = np.arange(n_source) if rows is None else np.asarray(rows, dtype=np.int64)
        self.transform = transform

    @classmethod
    def from_h5ad(cls, path: str | os.PathLike, layer: str | None = None) -> RowMatrix:
        """The counts of an h5ad file (``X`` or ``layers/<layer>``), left on disk."""
        if not Path(path).is_file():
            raise InputDataError(f"{str(path)!r} does not exist; check the path")
        return cls(_DiskSource(path, "X" if layer is None else f"layers/{layer}"))

    # ---------------------------------------------------------------- shape and size
    @property
    def on_disk(self) -> bool:
        return isinstance(self.source, _DiskSource)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.rows.size), int(self.source.shape[1]))

    @property
    def dtype(self):
        return np.dtype(np.float32)

    @property
    def nnz(self) -> int:
        """Stored entries of the served rows (before any transform)."""
        indptr = self.source.indptr
        return int((indptr[self.rows + 1] - indptr[self.rows]).sum())

    def __len__(self) -> int:
        return int(self.rows.size)

    # ---------------------------------------------------------------- reading
    def _read_source(self, source_rows: np.ndarray) -> sp.csr_matrix:
        """Source rows in the given order (any order, repeats allowed)."""
        if source_rows.size == 0:
            return sp.csr_matrix((0, self.shape[1]), dtype=np.float32)
        unique, inverse = np.unique(source_rows, return_inverse=True)
        if isinstance(self.source, _DiskSource):
            block = self.source.read(unique)
        else:
            block = self.source[unique]
        if unique.size != source_rows.size or (np.diff(source_rows) < 0).any():
            block = block[inverse]
        block = sp.csr_matrix(block, dtype=np.float32)
        return self.transform(block) if self.transform is not None else block

    def __getitem__(self, key) -> sp.csr_matrix:
        if isinstance(key, tuple):  # (rows, columns)
            rows, columns = key
            return self[rows][:, columns]
        if isinstance(key, slice):
            return self._read_source(self.rows[key])
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self._read_source(self.rows[key.astype(np.int64).ravel()])

    def blocks(self, block_rows: int | None = None) -> Iterator[tuple[int, sp.csr_matrix]]:
        """``(first row, CSR block)`` over all rows, in order (``BLOCK_ROWS`` rows each)."""
        block_rows = block_rows or BLOCK_ROWS
        for start in range(0, self.shape[0], block_rows):
            yield start, self[start : start + block_rows]

    def subset(self, keep) -> RowMatrix:
        """The rows where ``keep`` (bool mask or positions) holds, as a new RowMatrix."""
        keep = np.asarray(keep)
        positions = np.flatnonzero(keep) if keep.dtype == bool else keep
        return RowMatrix(self, positions)

    def map_blocks(self, transform: Callable) -> RowMatrix:
        """The same rows with ``transform`` applied to every block read."""
        return RowMatrix(self, None, transform)

    def sum(self, axis: int | None = None):
        """Sums like a scipy matrix's (2-D for an axis), computed a block at a time."""
        if axis == 1:
            out = np.concatenate([np.asarray(b.sum(axis=1)).ravel() for _, b in self.blocks()]
                                 or [np.zeros(0)])
            return out[:, None]
        totals = np.zeros(self.shape[1])
        for _, block in self.blocks():
            totals += np.asarray(block.sum(axis=0)).ravel()
        return totals[None, :] if axis == 0 else totals.sum()

    def columns(self, columns, block_rows: int | None = None) -> sp.csr_matrix:
        """Some columns of every row, as one in-memory CSR matrix (read a block at a time,
        so only the selected columns are ever held whole)."""
        columns = np.asarray(columns, dtype=np.int64)
        parts = [block[:, columns] for _, block in self.blocks(block_rows)]
        if not parts:
            return sp.csr_matrix((0, columns.size), dtype=np.float32)
        return sp.csr_matrix(sp.vstack(parts, format="csr"), dtype=np.float32)

    def to_csr(self) -> sp.csr_matrix:
        """Every served row in memory (only for data known to fit)."""
        if not self.on_disk and self.transform is None and self.rows.size == self.source.shape[0] \
                and (self.rows == np.arange(self.rows.size)).all():
            return self.source
        return self.columns(np.arange(self.shape[1]))


def as_row_matrix(matrix) -> RowMatrix:
    """``matrix`` as a :class:`RowMatrix` (a RowMatrix is returned as it is)."""
    return matrix if isinstance(matrix, RowMatrix) else RowMatrix(matrix)


def counts_of(adata) -> RowMatrix:
    """The counts (X) of an AnnData as a :class:`RowMatrix`: read from its file when the
    AnnData is backed, else the in-memory matrix itself (no copy)."""
    if adata.isbacked:
        return RowMatrix.from_h5ad(adata.filename)
    return RowMatrix(adata.X)
