"""Input validation: is this AnnData a Perturb-seq screen we can model?

Every command that reads user data calls :func:`validate_anndata` first, so bad input is
caught before any work is done, with a one-line :class:`~gpo_vae.errors.InputDataError`
naming the problem and the fix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import anndata as ad
import pandas as pd

from gpo_vae.data.schema import PerturbationSchema, check_raw_counts, counts_matrix, gene_symbols
from gpo_vae.errors import InputDataError


@dataclass(frozen=True)
class ValidationReport:
    """What validation found: sizes and labels of a valid screen."""

    n_cells: int
    n_genes: int
    n_control_cells: int
    perturbations: tuple[str, ...]
    cells_per_perturbation: dict[str, int]
    n_combinations: int = 0                 # labels naming several genes
    warnings: tuple[str, ...] = ()

    @property
    def n_perturbations(self) -> int:
        return len(self.perturbations)

    @property
    def n_singles(self) -> int:
        return self.n_perturbations - self.n_combinations


#: How the messages name each setting: config keys (``prepare``, ``train``) or the flags
#: of ``gpo-vae validate``.
CONFIG_NAMES = {key: f"data.{key}" for key in
                ("perturbation_key", "control_label", "counts_layer", "gene_symbol_key",
                 "combination_separator")}
FLAG_NAMES = {key: "--" + key.replace("_", "-") for key in CONFIG_NAMES}


def likely_combinations(labels, symbols) -> tuple[str, list[str]] | None:
    """``(separator, example labels)`` when labels look like gene combinations (``A+B``,
    ``A;B``, or ``A_B`` with both parts measured genes) but no separator was set."""
    genes = set(map(str, symbols))
    for separator in ("+", ";", "_"):
        found = []
        for label in labels:
            parts = [p for p in str(label).split(separator) if p]
            if len(parts) < 2:
                continue
            if separator != "_" or all(p in genes for p in parts):
                found.append(str(label))
        if found:
            return separator, sorted(found)
    return None

def validate_anndata(
    adata: ad.AnnData, schema: PerturbationSchema | None = None,
    names: dict[str, str] | None = None, counts=None,
) -> ValidationReport:
    """Check that ``adata`` is a usable Perturb-seq screen and summarise it.

    Checks: cells and genes present; raw non-negative integer counts without NaN (in X or
    ``schema.counts_layer``); the perturbation column exists without missing labels; at
    least one control and one perturbed cell; unique gene symbols. Raises
    :class:`~gpo_vae.errors.InputDataError` on the first problem found; messages name the
    settings as ``names`` says (config keys by default, :data:`FLAG_NAMES` for the
    ``validate`` command). Labels that look like combinations while
    ``combination_separator`` is unset give a warning in the report. ``counts`` is
    checked instead of the AnnData's matrix when given (e.g. an on-disk
    :class:`~gpo_vae.data.rows.RowMatrix` of a backed file).
    """
    schema = schema or PerturbationSchema()
    name = {**CONFIG_NAMES, **(names or {})}
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputDataError(
            f"the AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes); check that "
            "the right file was given and that no earlier filter removed everything"
        )
    where = "X" if schema.counts_layer is None else f"layers[{schema.counts_layer!r}]"
    check_raw_counts(counts_matrix(adata, schema.counts_layer) if counts is None else counts,
                     where=where)
    symbols = _unique_symbols(adata, schema, name)
    per_label, n_control = _label_counts(adata, schema, name)
    perturbations = tuple(sorted(per_label))
    warnings, n_combinations = _label_warnings(perturbations, symbols, schema, name)
    return ValidationReport(
        n_cells=int(adata.n_obs),
        n_genes=int(adata.n_vars),
        n_control_cells=int(n_control),
        perturbations=perturbations,
        cells_per_perturbation={p: int(per_label[p]) for p in perturbations},
        n_combinations=int(n_combinations),
        warnings=tuple(warnings),
    )


def _unique_symbols(adata: ad.AnnData, schema: PerturbationSchema, name: dict) -> pd.Index:
    """The gene symbols, refused when duplicated."""
    symbols = gene_symbols(adata, schema.gene_symbol_key)
    if not symbols.is_unique:
        dupes = symbols[symbols.duplicated()].unique()
        shown = ", ".join(map(str, dupes[:5])) + (" ..." if len(dupes) > 5 else "")
        raise InputDataError(
            f"{len(dupes)} gene names are duplicated ({shown}); make them unique (e.g. "
            f"adata.var_names_make_unique()) or point {name['gene_symbol_key']} at a unique "
            "column"
        )
    return symbols


def _label_counts(adata: ad.AnnData, schema: PerturbationSchema,
                  name: dict) -> tuple[Counter, int]:
    """Cells per perturbation label (controls apart) and the number of controls; refuses a
    missing column, unlabelled cells, no controls and no perturbed cells."""
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
            f"{name['perturbation_key']} to the column naming each cell's perturbed gene"
        )
    labels = adata.obs[key]
    if labels.isna().any():
        raise InputDataError(
            f"{int(labels.isna().sum())} cells have no label in obs[{key!r}]; give controls "
            f"the control label ({schema.control_label!r}) or drop unlabelled cells"
        )
    per_label = Counter(labels.astype(str))
    n_control = per_label.pop(schema.control_label, 0)
    if n_control == 0:
        common = ", ".join(repr(label) for label, _ in Counter(labels.astype(str)).most_common(5))
        raise InputDataError(
            f"no control cells: obs[{key!r}] has no {schema.control_label!r} label (most common "
            f"labels: {common}); set {name['control_label']} to your controls' label"
        )
    if not per_label:
        raise InputDataError(
            f"every cell is a control ({schema.control_label!r}) in obs[{key!r}]; the screen "
            f"needs perturbed cells: check {name['perturbation_key']} and "
            f"{name['control_label']}"
        )
    return per_label, n_control


def _label_warnings(perturbations: tuple[str, ...], symbols: pd.Index,
                    schema: PerturbationSchema, name: dict) -> tuple[list[str], int]:
    """What may be wrong without being an error (bare-number gene names, labels that look
    like combinations, targets that are not measured), and the number of combinations."""
    warnings = []
    bare = [str(g) for g in symbols if not str(g).strip() or str(g).strip().isdigit()]
    if bare:
        warnings.append(
            f"{len(bare)} gene names are empty or bare numbers (e.g. {bare[0]!r}); targets, "
            "QC gene prefixes and reference networks are matched by symbol, so point "
            f"{name['gene_symbol_key']} at a column of gene symbols")
    separator = schema.combination_separator
    if separator:
        n_combinations = sum(len([t for t in p.split(separator) if t]) > 1
                             for p in perturbations)
    else:
        n_combinations = 0
        guess = likely_combinations(perturbations, symbols)
        if guess is not None:
            sep, examples = guess
            warnings.append(
                f"{len(examples)} labels look like combinations ({', '.join(examples[:3])}) "
                f"but no combination separator is set, so each is treated as one gene; set "
                f"{name['combination_separator']}={sep!r} if they are")
    genes = set(map(str, symbols))
    targets = {t for p in perturbations for t in (p.split(separator) if separator else [p])}
    if not targets & genes:
        warnings.append(
            "no perturbed gene is among the measured genes, so the knockdown filter, the "
            "linear baseline for unseen perturbations and the statistical GRN test have "
            "nothing to use; check the gene names if the targets should be measured")
    return warnings, n_combinations
