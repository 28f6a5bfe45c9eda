"""Biological evaluation of an inferred GRN: precision / recall / F1 against reference
edge lists (TRRUST, DoRothEA, RegNetwork, CORUM, STRING, ... or any file of gene pairs).

A reference is a tab-separated file with a header and two gene-symbol columns, directed
(regulator -> target) or undirected (e.g. proteins sharing a complex). Which columns hold
the pair, and whether it is directed, can be given (command line ``NAME=FILE,source=COL,
target=COL,undirected`` or a YAML spec file) or are detected from the header.

Scores are computed only on the genes both the model and the reference know: a reference
covers a few thousand genes and a model a few hundred, and edges the reference could
never contain (or the model never predict) say nothing about either. ``random_precision``
is the reference's edge density on those shared genes: the precision random edges would
score, without which a precision is uninterpretable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gpo_vae.data.edge_list import (
    SOURCE_COLUMN_NAMES,
    TARGET_COLUMN_NAMES,
    read_gene_pair_table,
)
from gpo_vae.errors import ConfigError, InputFileError

__all__ = ["ReferenceSpec", "ReferenceNetwork", "parse_reference_argument",
           "read_reference_specs", "load_reference_network", "reference_metrics"]

_ARGUMENT_FORM = "NAME=FILE or NAME=FILE,source=COL,target=COL[,directed|,undirected]"
_SPEC_KEYS = ("path", "source", "target", "directed")
# Column names of symmetric pairs: a file using them is undirected unless told otherwise.
_UNDIRECTED_PAIRS = ({"gene_a", "gene_b"}, {"gene1", "gene2"}, {"genea", "geneb"})
# A base name with one of these suffixes names a symbol column and is preferred to the
# bare base name (OmniPath: ``source`` holds UniProt IDs, ``source_genesymbol`` symbols).
_SYMBOL_SUFFIXES = ("_symbol", "_genesymbol", "_gene_symbol", "_gene", "_name")


@dataclass(frozen=True)
class ReferenceSpec:
    """Where a reference network lives and how to read it; None = detect from the file."""

    name: str
    path: Path
    source: str | None = None
    target: str | None = None
    directed: bool | None = None


@dataclass
class ReferenceNetwork:
    """A loaded reference: ``edges`` has columns ``source`` and ``target`` (upper-case
    symbols, distinct, no self-loops; for undirected networks each pair is stored once,
    with source < target)."""

    name: str
    edges: pd.DataFrame
    directed: bool

    @property
    def genes(self) -> set[str]:
        """Every gene named by an edge."""
        return set(self.edges["source"]) | set(self.edges["target"])


def parse_reference_argument(text: str) -> ReferenceSpec:
    """A :class:`ReferenceSpec` from the command-line form ``NAME=FILE`` or
    ``NAME=FILE,source=COL,target=COL[,directed|,undirected]`` (options in any order,
    each optional). FILE may not contain a comma."""
    name, sep, rest = str(text).partition("=")
    name = name.strip()
    parts = [p.strip() for p in rest.split(",")]
    if not sep or not name or not parts[0]:
        raise ConfigError(f"reference network {text!r} is not of the form {_ARGUMENT_FORM}")
    options: dict[str, Any] = {}
    for part in parts[1:]:
        key, has_value, value = (s.strip() for s in part.partition("="))
        key = key.lower()
        if key in ("directed", "undirected") and not has_value:
            if "directed" in options:
                raise ConfigError(f"reference network {text!r} says both directed and "
                                  f"undirected; use one ({_ARGUMENT_FORM})")
            options["directed"] = key == "directed"
        elif key in ("source", "target") and has_value and value and key not in options:
            options[key] = value
        else:
            raise ConfigError(f"reference network {text!r}: cannot use option {part!r}; "
                              f"write {_ARGUMENT_FORM}")
    return ReferenceSpec(name=name, path=Path(parts[0]).expanduser(), **options)


def read_reference_specs(path: str | Path) -> list[ReferenceSpec]:
    """Reference networks listed in a YAML file::

        networks:
          trrust: {path: data/trrust_human.tsv}
          corum: {path: corum.tsv, source: gene_a, target: gene_b, directed: false}
          string: string_pairs.tsv          # shorthand for {path: ...}

    Relative paths resolve against the current working directory. Unknown keys, a missing
    ``path`` or a non-boolean ``directed`` are a :class:`ConfigError`.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputFileError(f"reference spec file {str(p)!r} not found; check the path")
    try:
        content = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"reference spec file {str(p)!r} is not valid YAML ({problem}); "
                          "write networks: {NAME: {path: FILE}}") from None
    where = f"reference spec file {str(p)!r}"
    if not isinstance(content, dict) or not isinstance(content.get("networks"), dict) \
            or not content["networks"]:
        raise ConfigError(f"{where} must hold a non-empty mapping 'networks', e.g. "
                          "networks: {trrust: {path: trrust_human.tsv}}")
    unknown = sorted(set(content) - {"networks"}, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s) {unknown}; only 'networks' "
                          "is allowed")
    specs = []
    for name, entry in content["networks"].items():
        if isinstance(entry, str | Path):
            entry = {"path": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: network {name!r} must be a file path or a mapping "
                              f"with keys {list(_SPEC_KEYS)}")
        unknown = sorted(set(entry) - set(_SPEC_KEYS), key=str)
        if unknown:
            raise ConfigError(f"{where}: network {name!r} has unknown key(s) {unknown}; "
                              f"allowed: {list(_SPEC_KEYS)}")
        if not entry.get("path"):
            raise ConfigError(f"{where}: network {name!r} has no 'path'; add path: FILE")
        directed = entry.get("directed")
        if directed is not None and not isinstance(directed, bool):
            raise ConfigError(f"{where}: network {name!r} has directed: {directed!r}; use "
                              "true or false")
        columns = {}
        for key in ("source", "target"):
            if entry.get(key) is not None:
                columns[key] = str(entry[key])
        file = Path(str(entry["path"])).expanduser()
        if not file.is_absolute():
            file = Path.cwd() / file
        specs.append(ReferenceSpec(name=str(name), path=file, directed=directed, **columns))
    return specs


def _normalise(column: str) -> str:
    return str(column).strip().lstrip("#").strip().lower().replace(" ", "_").replace("-", "_")


def _detect(columns: list[str], bases: tuple[str, ...]) -> int | None:
    """Index of the column naming a source (or target) symbol: ``base + symbol suffix``
    first, then the bare base name; never ``*_id`` columns. Leftmost wins ties."""
    names = [_normalise(c) for c in columns]
    for accept in (lambda n: any(n == b + s for b in bases for s in _SYMBOL_SUFFIXES),
                   lambda n: n in bases):
        for i, n in enumerate(names):
            if accept(n) and not n.endswith("_id"):
                return i
    return None


def load_reference_network(spec: ReferenceSpec) -> ReferenceNetwork:
    """Read a reference edge list (see :class:`ReferenceSpec`).

    Columns: the spec's (matched case-insensitively), else detected from the header: a
    source-like (tf, source, regulator, src, from, gene1, gene_a, ...) and a target-like
    (target, dst, to, gene2, gene_b, ...) name, preferring ``*_symbol`` columns and never
    picking ``*_id`` columns. Directedness: the spec's, else undirected when the columns
    are gene_a/gene_b or gene1/gene2 or the file name contains 'undirected', directed
    otherwise. Symbols are upper-cased; empty cells, self-loops and repeats are dropped.
    Problems are :class:`InputFileError` with a one-line message naming the file and fix.
    """
    path = Path(spec.path).expanduser()
    where = f"reference network {spec.name!r} file {str(path)!r}"
    table = read_gene_pair_table(path, where, f"check the path given for reference {spec.name!r}")
    columns = [str(c) for c in table.columns]
    lowered = [c.strip().lower() for c in columns]

    def column(named: str | None, bases: tuple[str, ...], role: str) -> int:
        if named is not None:
            if named.strip().lower() not in lowered:
                raise InputFileError(f"{where} has no column {named!r} (its columns: "
                                     f"{columns}); name the {role} column that exists")
            return lowered.index(named.strip().lower())
        found = _detect(columns, bases)
        if found is None:
            raise InputFileError(
                f"{where}: cannot tell which column holds the {role} gene (columns: "
                f"{columns}); name it: {spec.name}=FILE,source=COL,target=COL")
        return found

    source = column(spec.source, SOURCE_COLUMN_NAMES, "source")
    target = column(spec.target, TARGET_COLUMN_NAMES, "target")
    if source == target:
        raise InputFileError(f"{where}: source and target are the same column "
                             f"{columns[source]!r}; name two different columns")
    directed = spec.directed
    if directed is None:
        pair = {_normalise(columns[source]), _normalise(columns[target])}
        directed = not (pair in _UNDIRECTED_PAIRS or "undirected" in path.name.lower())

    edges = pd.DataFrame({"source": table.iloc[:, source], "target": table.iloc[:, target]})
    edges = edges.dropna()
    for key in ("source", "target"):
        edges[key] = edges[key].str.strip().str.upper()
    edges = edges[(edges["source"] != "") & (edges["target"] != "")
                  & (edges["source"] != edges["target"])]
    if not directed and len(edges):
        ordered = np.sort(edges[["source", "target"]].to_numpy(dtype=str), axis=1)
        edges = pd.DataFrame(ordered, columns=["source", "target"])
    edges = edges.drop_duplicates().reset_index(drop=True)
    if edges.empty:
        raise InputFileError(f"{where} has no usable gene pair in columns "
                             f"{columns[source]!r} and {columns[target]!r} (all empty or "
                             "self-loops); check the file and the column names")
    return ReferenceNetwork(name=spec.name, edges=edges, directed=bool(directed))


def _pairs(frame: pd.DataFrame, genes: set[str], directed: bool) -> set[tuple[str, str]]:
    """Distinct (source, target) pairs on ``genes`` without self-loops; canonical
    (sorted) pairs when undirected."""
    if frame.empty:
        return set()
    sources = frame["source"].astype(str).str.strip().str.upper()
    targets = frame["target"].astype(str).str.strip().str.upper()
    keep = sources.isin(genes) & targets.isin(genes) & (sources != targets)
    pairs = zip(sources[keep], targets[keep], strict=True)
    if directed:
        return set(pairs)
    return {(a, b) if a < b else (b, a) for a, b in pairs}


def reference_metrics(predicted: pd.DataFrame, model_genes, reference: ReferenceNetwork) -> dict:
    """Precision, recall and F1 of ``predicted`` edges (columns ``source``, ``target``)
    against ``reference``, both restricted to pairs of genes that are in ``model_genes``
    and in the reference (case-insensitive).

    For an undirected reference a predicted a -> b matches {a, b}, and a pair predicted in
    both directions counts once. ``n_edges`` is the number of reference edges on the
    shared genes, ``n_predicted`` the number of (restricted) predicted edges, and
    ``random_precision`` the reference's edge density among all possible pairs of shared
    genes (what random edges would score). Undefined ratios are None.
    """
    if not {"source", "target"} <= set(predicted.columns):
        raise ValueError("predicted must be a DataFrame with columns 'source' and 'target'")
    model = {str(g).strip().upper() for g in model_genes}
    shared = model & reference.genes
    directed = reference.directed
    predicted_pairs = _pairs(predicted, shared, directed)
    reference_pairs = _pairs(reference.edges, shared, directed)
    n_true = len(predicted_pairs & reference_pairs)
    precision = n_true / len(predicted_pairs) if predicted_pairs else None
    recall = n_true / len(reference_pairs) if reference_pairs else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(shared)
    possible = n * (n - 1) if directed else n * (n - 1) // 2
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_edges": len(reference_pairs),
        "n_predicted": len(predicted_pairs),
        "n_true_positives": n_true,
        "n_shared_genes": n,
        "random_precision": len(reference_pairs) / possible if possible else None,
        "directed": directed,
    }
