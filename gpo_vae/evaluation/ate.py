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

from gpo_vae.stats import TARGET_SUM, group_means, perturbseq_transform

# TARGET_SUM, group_means and perturbseq_transform live in gpo_vae.stats; re-exported here.
__all__ = ["TARGET_SUM", "AteTable", "ate_from_cells", "group_means", "perturbseq_transform"]


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
