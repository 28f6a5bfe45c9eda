"""Counterfactual targets for the QC term of the loss.

For a cell of perturbation p and QC status q, the counterfactual is the median count
profile of up to ``max_cells`` cells (seeded sample) with the same perturbation, the
opposite QC status and the same split (so held-out cells never inform training). Profiles
are stored once per (split, perturbation, QC status) group, and each cell points at one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def counterfactual_profiles(counts: sp.csr_matrix, labels: np.ndarray, qc: np.ndarray,
                            split: np.ndarray, max_cells: int = 50, seed: int = 0):
    """Return ``(profiles, index)``: profiles (groups x genes, float32) and, per cell, the
    row of its counterfactual profile or -1 when no opposite-QC cell exists."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"split": split, "label": labels, "qc": qc.astype(bool)})
    groups = frame.groupby(["split", "label", "qc"], sort=True).indices
    profiles, index = [], np.full(len(frame), -1, dtype=np.int64)
    # one median per group: a loop over groups (perturbations x 2 x 3), not over cells
    for (split_name, label, status), cells in groups.items():
        donors = groups.get((split_name, label, not status))
        if donors is None or donors.size == 0:
            continue
        if donors.size > max_cells:
            donors = np.sort(rng.choice(donors, size=max_cells, replace=False))
        profiles.append(np.median(counts[donors].toarray(), axis=0))
        index[cells] = len(profiles) - 1
    matrix = np.asarray(profiles, dtype=np.float32).reshape(len(profiles), counts.shape[1])
    return matrix, index
