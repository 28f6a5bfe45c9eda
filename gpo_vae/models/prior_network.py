"""Initialise q(M) from prior knowledge: a file of (regulator, target) gene pairs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.errors import InputFileError


def read_edge_list(path: str | Path) -> pd.DataFrame:
    """The first two columns of a tab-, comma- or whitespace-separated file as
    ``source``/``target`` gene symbols; a header line is detected and skipped."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"prior network file {str(p)!r} not found; check "
                             "guide.prior_network")
    try:
        table = pd.read_csv(p, sep=None, engine="python", header=None, dtype=str,
                            comment="#", usecols=[0, 1])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        raise InputFileError(f"prior network file {str(p)!r} is not a two-column list of gene "
                             "pairs (regulator, target), tab- or comma-separated") from None
    table.columns = ["source", "target"]
    first = tuple(str(v).lower() for v in table.iloc[0]) if len(table) else ()
    if first and (first[0] in {"source", "regulator", "tf", "from", "gene1", "gene_a"}
                  or first[1] in {"target", "to", "gene2", "gene_b"}):
        table = table.iloc[1:]
    return table.dropna().reset_index(drop=True)


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
