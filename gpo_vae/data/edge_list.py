"""Files of gene pairs (regulator, target): the prior network and reference networks.

Two readers share one vocabulary of column names: :func:`read_edge_list` reads a prior
network (header optional, any separator, ``#`` comments) as two columns, and
:func:`read_gene_pair_table` reads a reference network's table (header required, tab- or
comma-separated, possibly compressed) for the caller to pick its columns from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gpo_vae.errors import InputFileError

__all__ = ["SOURCE_COLUMN_NAMES", "TARGET_COLUMN_NAMES", "read_edge_list",
           "read_gene_pair_table"]

#: Header names (lower case) of a regulator column and of a target column.
SOURCE_COLUMN_NAMES = ("source", "regulator", "tf", "from", "gene1", "gene_a", "src",
                       "tf_symbol")
TARGET_COLUMN_NAMES = ("target", "to", "gene2", "gene_b", "dst", "target_symbol")
# Suffixes pandas decompresses; such files are not checked for binary content.
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")


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
    source = next((i for i, h in enumerate(header) if h in SOURCE_COLUMN_NAMES), None)
    target = next((i for i, h in enumerate(header) if h in TARGET_COLUMN_NAMES), None)
    if source is not None and target is not None:
        table = table.iloc[1:, [source, target]]
    else:
        table = table.iloc[:, [0, 1]]
    table.columns = ["source", "target"]
    return table.dropna().reset_index(drop=True)


def read_gene_pair_table(path: Path, where: str, fix: str) -> pd.DataFrame:
    """A tab- (or comma-) separated table with a header and at least two columns, possibly
    compressed; problems are an InputFileError naming ``where`` (and ``fix`` when missing)."""
    if not path.is_file():
        raise InputFileError(f"{where} not found; {fix}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{where} is empty; it needs a header line and one gene pair "
                             "per line, tab-separated")
    if not path.name.lower().endswith(_COMPRESSED):
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(65536):
                raise InputFileError(f"{where} is a binary file, not a tab-separated list of "
                                     "gene pairs; give the text edge list")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, compression="infer")
        if table.shape[1] < 2 and "," in str(table.columns[0]):
            table = pd.read_csv(path, sep=",", dtype=str, compression="infer")
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{where} is empty; it needs a header line and one gene pair "
                             "per line, tab-separated") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        problem = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise InputFileError(f"{where} could not be read as a tab-separated table "
                             f"({problem}); give a text file with a header line") from None
    if table.shape[1] < 2:
        raise InputFileError(f"{where} has {table.shape[1]} column(s) "
                             f"({list(table.columns)}); it needs two gene-symbol columns, "
                             "tab-separated, with a header")
    return table
