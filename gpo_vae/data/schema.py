"""Where a screen keeps what we read: the schema (perturbation column, control label,
counts layer, gene symbols), the counts matrix and its scale (raw counts or not).

:mod:`gpo_vae.data.validation` checks a whole screen against a schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from gpo_vae.constants import DEFAULT_CONTROL_LABEL
from gpo_vae.errors import InputDataError

# Checking values in slices keeps the temporary boolean arrays small on large screens.
_CHUNK_VALUES = 20_000_000


@dataclass(frozen=True)
class PerturbationSchema:
    """Where the pieces of a Perturb-seq screen live in an AnnData.

    Defaults follow the GPO-VAE authors' (CausalBench-style) files: ``obs['gene']`` holds
    the perturbed gene symbol, ``non-targeting`` marks controls, raw counts are in ``X``.
    """

    perturbation_key: str = "gene"
    control_label: str = DEFAULT_CONTROL_LABEL
    counts_layer: str | None = None
    gene_symbol_key: str | None = None
    combination_separator: str | None = None


def counts_matrix(adata: ad.AnnData, counts_layer: str | None = None):
    """Return the raw-count matrix (``X`` or ``layers[counts_layer]``), with a clear error."""
    if counts_layer is None:
        if adata.X is None:
            raise InputDataError(
                "the AnnData has no X matrix; put raw counts in X or name their layer with "
                "data.counts_layer"
            )
        return adata.X
    if counts_layer not in adata.layers:
        available = ", ".join(map(repr, adata.layers.keys())) or "none"
        raise InputDataError(
            f"counts layer {counts_layer!r} not found (layers: {available}); set "
            "data.counts_layer to the layer with raw counts, or leave it empty to use X"
        )
    return adata.layers[counts_layer]


def gene_symbols(adata: ad.AnnData, gene_symbol_key: str | None = None) -> pd.Index:
    """Gene symbols from ``var[gene_symbol_key]`` or, when not set, ``var_names``."""
    if gene_symbol_key is None:
        return pd.Index(adata.var_names.astype(str))
    if gene_symbol_key not in adata.var.columns:
        columns = ", ".join(map(repr, adata.var.columns[:10])) or "none"
        raise InputDataError(
            f"var has no column {gene_symbol_key!r} for gene symbols (columns: {columns}); "
            "set data.gene_symbol_key to the right column, or leave it empty to use var_names"
        )
    symbols = adata.var[gene_symbol_key]
    if symbols.isna().any():
        raise InputDataError(
            f"{int(symbols.isna().sum())} genes have no symbol in var[{gene_symbol_key!r}]; "
            "fill them (e.g. with the gene id) before running gpo-vae"
        )
    return pd.Index(symbols.astype(str))


def _value_chunks(matrix):
    """Yield 1-D slices of the stored values of a sparse, dense or row-block matrix."""
    if hasattr(matrix, "blocks"):  # a RowMatrix: one block of cells at a time
        for _, block in matrix.blocks():
            yield block.data
        return
    if sp.issparse(matrix):
        data = matrix.data if hasattr(matrix, "data") else matrix.tocsr().data
        for start in range(0, data.size, _CHUNK_VALUES):
            yield data[start : start + _CHUNK_VALUES]
        return
    if isinstance(matrix, np.ndarray):
        rows = max(1, _CHUNK_VALUES // max(matrix.shape[1], 1))
        for start in range(0, matrix.shape[0], rows):
            yield np.asarray(matrix[start : start + rows]).ravel()
        return
    raise InputDataError(
        f"unsupported count matrix type {type(matrix).__name__}; load the file into memory "
        "(not backed) with X as a numpy array or scipy sparse matrix"
    )


def check_raw_counts(matrix, where: str = "X") -> None:
    """Raise unless ``matrix`` holds finite, non-negative, integer counts."""
    integer_dtype = np.issubdtype(matrix.dtype, np.integer)
    for values in _value_chunks(matrix):
        if values.size == 0:
            continue
        if not integer_dtype:
            bad = ~np.isfinite(values)
            if bad.any():
                raise InputDataError(
                    f"{where} contains {int(bad.sum())} NaN or infinite values; raw counts "
                    "must be finite: fix or drop the affected cells before running gpo-vae"
                )
        if values.min() < 0:
            raise InputDataError(
                f"{where} contains negative values (min {values.min():g}); gpo-vae needs raw "
                "UMI counts: put them in X or name their layer with data.counts_layer"
            )
        if not integer_dtype:
            fractional = values != np.round(values)
            if fractional.any():
                example = values[fractional][0]
                raise InputDataError(
                    f"{where} contains non-integer values (e.g. {example:.4g}): it looks "
                    f"{_scale_description(matrix)}; gpo-vae needs raw UMI counts: put them in "
                    "X or name their layer with data.counts_layer"
                )


#: What :func:`expression_scale` tells apart.
COUNTS, LOG1P_NORMALISED, OTHER_SCALE = "counts", "log1p_normalised", "other"
# log1p(3.3e6): no log1p of normalised counts goes above it
_MAX_LOG1P = 15.0
# rows of expm1(X) of log1p-normalised cells share one total up to float32 rounding
_TOTAL_SPREAD = 1e-2


def _sample_rows(matrix, max_rows: int, seed: int) -> np.ndarray:
    """Up to ``max_rows`` random rows of ``matrix`` (sparse or dense) as dense float64."""
    n = matrix.shape[0]
    rows = np.arange(n) if n <= max_rows else \
        np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
    picked = matrix[rows]
    picked = picked.toarray() if sp.issparse(picked) else np.asarray(picked)
    return picked.astype(np.float64, copy=False)


def expression_scale(matrix, max_rows: int = 1000, seed: int = 0) -> str:
    """What scale an expression matrix (cells x genes) is on, from a sample of its rows.

    - ``"counts"``: finite, non-negative whole numbers (raw UMI counts);
    - ``"log1p_normalised"``: non-negative, non-integer values at most 15 whose
      ``expm1`` sums to the same total in every cell that has any expression, i.e.
      ``log1p(total * x / library)`` (scanpy's ``normalize_total`` then ``log1p``; what
      gpo-vae writes for cell-eval: ``predictions.h5ad``, ``observed_<split>.h5ad``);
    - ``"other"``: anything else (negative or non-finite values, scaled or z-scored data,
      log1p data normalised over genes that were later dropped).

    Parameters
    ----------
    matrix
        A numpy array or scipy sparse matrix.
    max_rows, seed
        Rows looked at (a random sample when there are more) and the sample's seed.

    Returns
    -------
    str
        :data:`COUNTS`, :data:`LOG1P_NORMALISED` or :data:`OTHER_SCALE`.
    """
    values = _sample_rows(matrix, max_rows, seed)
    if not np.isfinite(values).all() or (values.size and values.min() < 0):
        return OTHER_SCALE
    if np.array_equal(values, np.round(values)):
        return COUNTS
    if values.max() > _MAX_LOG1P:
        return OTHER_SCALE
    totals = np.expm1(values).sum(axis=1)
    totals = totals[totals > 0]
    if totals.size and (totals.max() - totals.min()) <= _TOTAL_SPREAD * np.median(totals):
        return LOG1P_NORMALISED
    return OTHER_SCALE


def _scale_description(matrix) -> str:
    """How a non-count matrix looks, for error messages."""
    if isinstance(matrix, np.ndarray) or sp.issparse(matrix):
        if expression_scale(matrix) == LOG1P_NORMALISED:
            return "log1p-normalised (log1p of counts scaled to one total per cell)"
    return "normalised or log-transformed"


def as_count_scale(matrix, where: str = "X"):
    """``matrix`` on the scale of counts, up to a factor per cell: raw counts as they are,
    log1p-normalised expression back through ``expm1`` (each cell's counts times
    total / library size, which any per-cell normalisation divides out again).

    Parameters
    ----------
    matrix
        Cells x genes, a numpy array or scipy sparse matrix.
    where
        What the matrix is, for the error message (``"the target cells' X"``).

    Returns
    -------
    tuple
        The matrix on the count scale and its scale (:func:`expression_scale`).

    Raises
    ------
    InputDataError
        When the matrix is neither counts nor log1p-normalised (one line).
    """
    scale = expression_scale(matrix)
    if scale == COUNTS:
        return matrix, scale
    if scale == LOG1P_NORMALISED:
        if sp.issparse(matrix):
            out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
            out.data = np.expm1(out.data)
            return out, scale
        return np.expm1(np.asarray(matrix, dtype=np.float64)), scale
    raise InputDataError(
        f"{where} holds neither raw counts nor log1p-normalised expression (negative, "
        "non-finite or otherwise scaled values); give raw UMI counts (in X or "
        "layers['counts']) or log1p(normalised counts) as gpo-vae writes them")
