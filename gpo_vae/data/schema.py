"""Input validation: is this AnnData a Perturb-seq screen we can model?

Every command that reads user data calls :func:`validate_anndata` first, so bad input is
caught before any work is done, with a one-line :class:`~gpo_vae.errors.InputDataError`
naming the problem and the fix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

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
    control_label: str = "non-targeting"
    counts_layer: str | None = None
    gene_symbol_key: str | None = None
    combination_separator: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    """What validation found: sizes and labels of a valid screen."""

    n_cells: int
    n_genes: int
    n_control_cells: int
    perturbations: tuple[str, ...]
    cells_per_perturbation: dict[str, int]

    @property
    def n_perturbations(self) -> int:
        return len(self.perturbations)


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
    """Yield 1-D slices of the stored values of a sparse or dense matrix."""
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
                    "normalised or log-transformed; gpo-vae needs raw UMI counts: put them in "
                    "X or name their layer with data.counts_layer"
                )


def validate_anndata(
    adata: ad.AnnData, schema: PerturbationSchema | None = None
) -> ValidationReport:
    """Check that ``adata`` is a usable Perturb-seq screen and summarise it.

    Checks: cells and genes present; raw non-negative integer counts without NaN (in X or
    ``schema.counts_layer``); the perturbation column exists without missing labels; at
    least one control and one perturbed cell; unique gene symbols. Raises
    :class:`~gpo_vae.errors.InputDataError` on the first problem found.
    """
    schema = schema or PerturbationSchema()
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputDataError(
            f"the AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes); check that "
            "the right file was given and that no earlier filter removed everything"
        )

    where = "X" if schema.counts_layer is None else f"layers[{schema.counts_layer!r}]"
    check_raw_counts(counts_matrix(adata, schema.counts_layer), where=where)

    symbols = gene_symbols(adata, schema.gene_symbol_key)
    if not symbols.is_unique:
        dupes = symbols[symbols.duplicated()].unique()
        shown = ", ".join(map(str, dupes[:5])) + (" ..." if len(dupes) > 5 else "")
        raise InputDataError(
            f"{len(dupes)} gene names are duplicated ({shown}); make them unique (e.g. "
            "adata.var_names_make_unique()) or point data.gene_symbol_key at a unique column"
        )

    key = schema.perturbation_key
    if key not in adata.obs.columns:
        candidates = [
            c
            for c in adata.obs.columns
            if isinstance(adata.obs[c].dtype, pd.CategoricalDtype) or adata.obs[c].dtype == object
        ]
        shown = ", ".join(map(repr, candidates[:8])) or "none"
        raise InputDataError(
            f"obs has no perturbation column {key!r} (text columns: {shown}); set "
            "data.perturbation_key to the column naming each cell's perturbed gene"
        )
    labels = adata.obs[key]
    if labels.isna().any():
        raise InputDataError(
            f"{int(labels.isna().sum())} cells have no label in obs[{key!r}]; give controls "
            f"the control label ({schema.control_label!r}) or drop unlabelled cells"
        )
    counts = Counter(labels.astype(str))
    n_control = counts.pop(schema.control_label, 0)
    if n_control == 0:
        common = ", ".join(repr(label) for label, _ in Counter(labels.astype(str)).most_common(5))
        raise InputDataError(
            f"no control cells: obs[{key!r}] has no {schema.control_label!r} label (most common "
            f"labels: {common}); set data.control_label to your controls' label"
        )
    if not counts:
        raise InputDataError(
            f"every cell is a control ({schema.control_label!r}) in obs[{key!r}]; the screen "
            "needs perturbed cells: check data.perturbation_key and data.control_label"
        )
    perturbations = tuple(sorted(counts))
    return ValidationReport(
        n_cells=int(adata.n_obs),
        n_genes=int(adata.n_vars),
        n_control_cells=int(n_control),
        perturbations=perturbations,
        cells_per_perturbation={p: int(counts[p]) for p in perturbations},
    )
