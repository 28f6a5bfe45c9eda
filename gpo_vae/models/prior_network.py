"""Initialise q(M) from prior knowledge: a file of (regulator, target) gene pairs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gpo_vae.data.edge_list import read_edge_list
from gpo_vae.errors import InputFileError

# read_edge_list lives in gpo_vae.data.edge_list; re-exported for existing importers.
__all__ = ["prior_mask_logits", "read_edge_list"]


def prior_mask_logits(path: str | Path, treatment_names: list[str], *, base_logit: float,
                      edge_probability: float) -> tuple[np.ndarray, int]:
    """T x T initial logits: ``base_logit`` everywhere, logit(edge_probability) on listed
    edges between treatment genes. Returns the matrix and the number of edges used."""
    edges = read_edge_list(path)
    index = {name.upper(): i for i, name in enumerate(treatment_names)}
    rows = edges["source"].str.upper().map(index)
    cols = edges["target"].str.upper().map(index)
    keep = rows.notna() & cols.notna() & (rows != cols)
    if not keep.any():
        raise InputFileError(
            f"no pair in prior network file {str(path)!r} links two of the model's "
            f"{len(treatment_names)} treatment genes (e.g. {', '.join(treatment_names[:3])}); "
            "check that it uses gene symbols")
    logits = np.full((len(treatment_names),) * 2, base_logit, dtype=np.float32)
    logits[rows[keep].astype(int), cols[keep].astype(int)] = \
        math.log(edge_probability / (1 - edge_probability))
    return logits, int(np.count_nonzero(logits != base_logit))
