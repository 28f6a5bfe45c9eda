"""Initialise q(M) from prior knowledge: a file of (regulator, target) gene pairs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.errors import InputFileError

_SOURCE_NAMES = ("source", "regulator", "tf", "from", "gene1", "gene_a", "src", "tf_symbol")
_TARGET_NAMES = ("target", "to", "gene2", "gene_b", "dst", "target_symbol")


def read_edge_list(path: str | Path) -> pd.DataFrame:
    """``source``/``target`` gene symbols from a tab-, comma- or whitespace-separated file.

    With a header, the columns named like a regulator (tf, source, regulator, gene1, ...)
    and a target (target, gene2, ...) are used; otherwise the first two columns.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"prior network file {str(p)!r} not found; check "
                             "guide.prior_network")
    try:
        table = pd.read_csv(p, sep=None, engine="python", header=None, dtype=str,
                            comment="#")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        table = None
    if table is None or table.shape[1] < 2 or table.empty:
        raise InputFileError(f"prior network file {str(p)!r} is not a list of gene pairs "
                             "(regulator, target), tab- or comma-separated")
    header = [str(v).strip().lower() for v in table.iloc[0]]
    source = next((i for i, h in enumerate(header) if h in _SOURCE_NAMES), None)
    target = next((i for i, h in enumerate(header) if h in _TARGET_NAMES), None)
    if source is not None and target is not None:
        table = table.iloc[1:, [source, target]]
    else:
        table = table.iloc[:, [0, 1]]
    table.columns = ["source", "target"]
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
