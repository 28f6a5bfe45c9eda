"""Average treatment effects (ATEs) measured from cells.

The "perturbseq" ATE of a perturbation is the difference, gene by gene, between the mean
of ``log2(1 + 1e4 * x / total)`` over its cells and over control cells. Scores are honest
only when these data ATEs come from held-out cells: callers pass the cells of one split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

TARGET_SUM = 1e4


def perturbseq_transform(counts, library_size: np.ndarray | None = None):
    """``log2(1 + 1e4 * x / total)`` per cell; sparse input stays sparse (zeros stay 0).

    ``library_size`` defaults to the row sums of ``counts``.
    """
    if library_size is None:
        library_size = np.asarray(counts.sum(axis=1)).ravel()
    scale = TARGET_SUM / np.maximum(np.asarray(library_size, dtype=np.float64), 1.0)
    if sp.issparse(counts):
        out = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        out.data = out.data * np.repeat(scale, np.diff(out.indptr)).astype(np.float32)
        out.data = np.log2(1.0 + out.data)
        return out
    dense = np.asarray(counts, dtype=np.float64) * scale[:, None]
    return np.log2(1.0 + dense).astype(np.float32)


def group_means(expression, labels: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Mean expression (groups x genes) and cell counts of each group label.

    One sparse indicator product instead of a loop over groups, so a large sparse matrix
    is never densified (only the groups x genes result is dense).
    """
    labels = np.asarray(labels).astype(str)
    index = {g: i for i, g in enumerate(groups)}
    rows = np.array([index.get(label, -1) for label in labels])
    keep = rows >= 0
    indicator = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], np.flatnonzero(keep))),
        shape=(len(groups), labels.size))
    counts = np.asarray(indicator.sum(axis=1)).ravel()
    sums = indicator @ expression
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    return means, counts.astype(int)


@dataclass
class AteTable:
    """ATEs (perturbations x genes) and the number of cells behind each row."""

    values: pd.DataFrame
    n_cells: pd.Series
    n_control_cells: int

    def rows(self, perturbations: Sequence[str]) -> pd.DataFrame:
        """ATEs for ``perturbations`` in that order; NaN rows for those without cells."""
        return self.values.reindex(list(perturbations))


def ate_from_cells(expression, labels: np.ndarray, control_label: str,
                   gene_names: Sequence[str], perturbations: Sequence[str] | None = None,
                   min_cells: int = 1) -> AteTable:
    """Data ATEs of ``perturbations`` (default: every non-control label) from the given
    cells: mean transformed expression of each perturbation minus that of the controls.

    ``expression`` is already transformed (see :func:`perturbseq_transform`) and holds
    only the cells to use, e.g. those of the test split.
    """
    labels = np.asarray(labels).astype(str)
    if perturbations is None:
        perturbations = sorted(set(labels) - {control_label})
    perturbations = list(perturbations)
    means, counts = group_means(expression, labels, [control_label, *perturbations])
    if counts[0] == 0:
        raise ValueError("no control cells among the given cells")
    keep = counts[1:] >= min_cells
    values = means[1:][keep] - means[0]
    names = [p for p, k in zip(perturbations, keep, strict=True) if k]
    return AteTable(pd.DataFrame(values, index=pd.Index(names, name="perturbation"),
                                 columns=list(gene_names)),
                    pd.Series(counts[1:][keep], index=names, name="n_cells"), int(counts[0]))
