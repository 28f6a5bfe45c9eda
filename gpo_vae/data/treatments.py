"""Treatment genes and the dosage matrix D (cells x T).

T = the perturbed genes (from the labels, combinations split on a separator) followed by
extra genes, which every cell receives at dosage 0; they exist so the GRN can route
effects through genes that respond strongly but were not perturbed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gpo_vae.errors import InputDataError


def targets_of(label: str, control_label: str, separator: str | None) -> list[str]:
    """Genes a label perturbs: ``[]`` for controls, ``["A", "B"]`` for ``A+B``."""
    if label == control_label:
        return []
    if separator:
        parts = [p.strip() for p in label.split(separator)]
        parts = [p for p in parts if p and p != control_label]
        return list(dict.fromkeys(parts))
    return [label]


def perturbed_genes(labels: pd.Series, control_label: str, separator: str | None) -> list[str]:
    """Sorted single genes perturbed anywhere in the screen."""
    genes = set()
    for label in pd.unique(labels.astype(str)):
        genes.update(targets_of(label, control_label, separator))
    return sorted(genes)


def treatment_table(perturbed: list[str], extra: list[str], measured: set[str]) -> pd.DataFrame:
    """One row per treatment column: name, kind (``perturbed``/``extra``), measured."""
    overlap = set(perturbed) & set(extra)
    if overlap:
        raise InputDataError(f"extra genes overlap perturbed genes ({sorted(overlap)[:3]})")
    names = list(perturbed) + list(extra)
    return pd.DataFrame(
        {
            "name": names,
            "kind": ["perturbed"] * len(perturbed) + ["extra"] * len(extra),
            "measured": [n in measured for n in names],
        }
    )


def dosage_matrix(labels: pd.Series, control_label: str, separator: str | None,
                  treatments: list[str]) -> sp.csr_matrix:
    """Binary dosages (cells x T): one row per distinct label, gathered by label code."""
    column = {name: j for j, name in enumerate(treatments)}
    codes, uniques = pd.factorize(labels.astype(str))
    rows, cols = [], []
    for i, label in enumerate(uniques):
        for gene in targets_of(label, control_label, separator):
            if gene not in column:
                raise InputDataError(f"perturbed gene {gene!r} has no treatment column")
            rows.append(i)
            cols.append(column[gene])
    per_label = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(uniques), len(treatments)),
    )
    return per_label[codes].tocsr()
