"""Targets of an intervention design: the expression change a user wants to reach.

A target is a vector of ATEs on the "perturbseq" scale (``log2(1 + 1e4 x / total)``,
perturbed minus control) over some of the model's genes. It is made from an observed
profile (held-out cells of a perturbation, or an AnnData of cells to reach), a signed gene
set (genes up / down, every other gene spared: target 0) or a table of target
log-fold-changes. Cells to reach may hold raw counts or log1p-normalised expression (what
gpo-vae writes for cell-eval); :func:`gpo_vae.data.schema.expression_scale` tells which,
and anything else is refused.

An observed profile is matched on the genes its cells change significantly (the
``top_genes`` of largest Welch |t| against the controls of the same split), not on every
gene: a held-out perturbation has tens of cells, and over 1,500 mostly unchanged genes
their noise swamps the signal. On the simulated default screen, matching training-cell
profiles on all genes names the right perturbation for 62% of targets, on the 20 genes
of largest |t| for 92% (``benchmarks/design.py`` measures the model the same way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.constants import (
    DESIGN_TOP_GENES,
    OBS_LIBRARY_SIZE,
    OBS_PERTURBATION,
    OBS_SPLIT,
    UNS_SCHEMA,
    VAR_GENE_SYMBOL,
)
from gpo_vae.data.schema import as_count_scale
from gpo_vae.errors import InputDataError, InputFileError
from gpo_vae.evaluation.ate import ate_from_cells
from gpo_vae.stats import group_means, perturbseq_transform

logger = logging.getLogger(__name__)

_UP, _DOWN = {"up", "+", "1", "+1", "increase"}, {"down", "-", "-1", "decrease"}


@dataclass(frozen=True)
class TargetOptions:
    """How a target is read: ``split`` (the cells behind ``perturbation:`` targets and
    the controls of AnnData targets), ``strength`` (a gene set's target ATE, log2
    units), ``top_genes`` (genes an observed profile is matched on; 0 or None: all) and
    ``spare_others`` (a gene set also asks every other gene to stay at 0)."""

    split: str = "test"
    strength: float = 1.0
    top_genes: int | None = DESIGN_TOP_GENES
    spare_others: bool = False


@dataclass
class DesignTarget:
    """Target ATEs (a Series indexed by gene symbol) and where they came from."""

    values: pd.Series
    label: str
    kind: str   # "perturbation", "cells", "gene_set" or "lfc"

    def aligned(self, gene_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Column indices of the target's genes among ``gene_names`` and the target values
        in that order; a one-line error names genes the model does not know."""
        position = {g: i for i, g in enumerate(gene_names)}
        unknown = [g for g in self.values.index if g not in position]
        if unknown:
            shown = ", ".join(map(repr, unknown[:3]))
            raise InputDataError(
                f"the target names {len(unknown)} gene(s) the model does not know ({shown}"
                f"{', ...' if len(unknown) > 3 else ''}); remove them or use the symbols of "
                "the model's genes")
        if self.values.empty:
            raise InputDataError("the target has no genes")
        values = self.values.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputDataError("the target has missing or infinite values; give a number "
                                 "for every gene")
        if not np.any(values):
            raise InputDataError("the target asks for no change at all (every value is 0)")
        return np.array([position[g] for g in self.values.index]), values


def _transformed(prepared: ad.AnnData, cells: np.ndarray, library: bool = True):
    """The "perturbseq" expression of some prepared cells, normalised by their recorded
    library sizes (as evaluation does) or by their totals over the prepared genes."""
    sizes = prepared.obs[OBS_LIBRARY_SIZE].to_numpy()[cells] if library else None
    return perturbseq_transform(prepared.X[cells], sizes)


def _control_mean(prepared: ad.AnnData, split: str, library: bool = True) -> np.ndarray:
    labels = prepared.obs[OBS_PERTURBATION].astype(str).to_numpy()
    control = str(prepared.uns[UNS_SCHEMA]["control_label"])
    cells = (prepared.obs[OBS_SPLIT].astype(str).to_numpy() == split) & (labels == control)
    if not cells.any():
        raise InputDataError(f"the prepared data has no control cells in the {split} split")
    means, _ = group_means(_transformed(prepared, cells, library), labels[cells],
                           [control])
    return means[0]


def _mean_var(expression) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and sample variance, without densifying a sparse matrix."""
    import scipy.sparse as sp
    from sklearn.utils.sparsefuncs import mean_variance_axis

    if sp.issparse(expression):
        mean, var = mean_variance_axis(sp.csr_matrix(expression, dtype=np.float64), axis=0)
    else:
        dense = np.asarray(expression, dtype=np.float64)
        mean, var = dense.mean(0), dense.var(0)
    n = expression.shape[0]
    return mean, var * n / max(n - 1, 1)


def welch_t(cells, control) -> np.ndarray:
    """Welch's t of each gene, ``cells`` against ``control`` (transformed expression,
    sparse or dense): ``scipy.stats.ttest_ind_from_stats`` on per-gene moments, so only
    one gene's worth of numbers per cell set is ever dense. Genes constant in both get 0."""
    from scipy.stats import ttest_ind_from_stats

    (m1, v1), (m2, v2) = _mean_var(cells), _mean_var(control)
    with np.errstate(invalid="ignore", divide="ignore"):
        t, _ = ttest_ind_from_stats(m1, np.sqrt(v1), cells.shape[0], m2, np.sqrt(v2),
                                    control.shape[0], equal_var=False)
    return np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)


def most_significant(values: pd.Series, t: np.ndarray, top_genes: int | None) -> pd.Series:
    """The ``top_genes`` entries of ``values`` with the largest ``|t|`` (all of them when
    ``top_genes`` is None or 0), in their original gene order."""
    if not top_genes or top_genes >= values.size:
        return values
    if top_genes < 0:
        raise InputDataError(f"top_genes must be positive (or 0 for every gene), not "
                             f"{top_genes}")
    keep = np.sort(np.argsort(-np.abs(t), kind="stable")[:top_genes])
    return values.iloc[keep]


def observed_ates(prepared: ad.AnnData, names: Sequence[str], split: str = "test") -> pd.DataFrame:
    """Observed ATEs (``names`` x genes) from the cells of ``split`` only: the targets of
    ``perturbation:NAME`` (test cells), and with ``split="train"`` the per-perturbation
    mean that a design is compared with."""
    labels = prepared.obs[OBS_PERTURBATION].astype(str).to_numpy()
    cells = prepared.obs[OBS_SPLIT].astype(str).to_numpy() == split
    missing = [n for n in names if not (cells & (labels == n)).any()]
    if missing:
        known = sorted(set(labels[cells]) - {str(prepared.uns[UNS_SCHEMA]["control_label"])})
        raise InputDataError(f"no {split} cells of perturbation {missing[0]!r}; the {split} "
                             f"split has {', '.join(known[:6])}"
                             f"{', ...' if len(known) > 6 else ''}")
    genes = prepared.var[VAR_GENE_SYMBOL].astype(str).tolist()
    control = str(prepared.uns[UNS_SCHEMA]["control_label"])
    return ate_from_cells(_transformed(prepared, cells), labels[cells], control, genes,
                          list(names)).values


def target_from_perturbation(prepared: ad.AnnData, name: str, split: str = "test",
                             top_genes: int | None = DESIGN_TOP_GENES) -> DesignTarget:
    """The observed ATE of perturbation ``name`` from the cells of ``split`` only (its
    test cells by default, which the model never trained on), on the ``top_genes`` genes
    those cells change most significantly (Welch |t| against the split's controls)."""
    values = observed_ates(prepared, [name], split).loc[name]
    if top_genes:
        labels = prepared.obs[OBS_PERTURBATION].astype(str).to_numpy()
        in_split = prepared.obs[OBS_SPLIT].astype(str).to_numpy() == split
        control = str(prepared.uns[UNS_SCHEMA]["control_label"])
        t = welch_t(_transformed(prepared, np.flatnonzero(in_split & (labels == name))),
                    _transformed(prepared, np.flatnonzero(in_split & (labels == control))))
        values = most_significant(values, t, top_genes)
    return DesignTarget(values, f"{name} ({split} cells)", "perturbation")


def target_from_cells(cells: ad.AnnData, prepared: ad.AnnData, split: str = "test",
                      label: str = "cells",
                      top_genes: int | None = DESIGN_TOP_GENES) -> DesignTarget:
    """The mean profile of ``cells`` (raw counts in ``layers['counts']`` or ``X``, or
    log1p-normalised expression in ``X`` as gpo-vae's ``predictions.h5ad`` and
    ``observed_<split>.h5ad`` hold it; genes by symbol in ``var['gene_symbol']`` or
    ``var_names``) minus that of the prepared data's control cells of ``split``, on the
    ``top_genes`` of the genes both share that differ most significantly (Welch |t|).
    Other values (negative, z-scored, ...) are a one-line error."""
    if cells.n_obs == 0:
        raise InputDataError("the target AnnData has no cells")
    where = "layers['counts']" if "counts" in cells.layers else "X"
    counts, scale = as_count_scale(cells.layers["counts"] if where != "X" else cells.X,
                                   f"the target cells' {where}")
    logger.info("target cells' %s: %s", where, scale)
    symbols = (cells.var[VAR_GENE_SYMBOL] if VAR_GENE_SYMBOL in cells.var else
               cells.var_names).astype(str).tolist()
    genes = prepared.var[VAR_GENE_SYMBOL].astype(str).tolist()
    shared = [g for g in symbols if g in set(genes)]
    if not shared:
        raise InputDataError("the target cells share no gene with the model; give their gene "
                             "symbols in var_names or var['gene_symbol']")
    own_cells = perturbseq_transform(counts)
    mean = np.asarray(own_cells.mean(axis=0)).ravel()
    own = pd.Series(mean, index=symbols)[shared]
    # both sides normalised by their totals over the genes they hold
    control = pd.Series(_control_mean(prepared, split, library=False), index=genes)[shared]
    values = own - control
    if top_genes:
        labels = prepared.obs[OBS_PERTURBATION].astype(str).to_numpy()
        controls = (prepared.obs[OBS_SPLIT].astype(str).to_numpy() == split) & \
            (labels == str(prepared.uns[UNS_SCHEMA]["control_label"]))
        own_columns = pd.Index(symbols).get_indexer(shared)
        control_columns = pd.Index(genes).get_indexer(shared)
        t = welch_t(own_cells[:, own_columns],
                    _transformed(prepared, np.flatnonzero(controls), False)[:, control_columns])
        values = most_significant(values, t, top_genes)
    return DesignTarget(values, label, "cells")


def target_from_gene_set(up: Sequence[str], down: Sequence[str], gene_names: Sequence[str],
                         strength: float = 1.0, label: str = "gene set", *,
                         spare_others: bool = False,
                         treatments: Sequence[str] = ()) -> DesignTarget:
    """``+strength`` on the ``up`` genes and ``-strength`` on the ``down`` genes; with
    ``spare_others`` also 0 on every other gene of ``gene_names`` except the
    ``treatments`` (the genes that can be perturbed: a knocked-down gene's own drop is the
    intervention, not a side effect).

    Sparing is off by default: a knockdown moves hundreds of genes downstream, so a
    target of zeros everywhere else is one that not even the perturbations that made the
    signature reach (on the simulated default screen, the pair behind a 10-gene signature
    comes only 1.7-2.5x closer to its spared target than random pairs do, against more
    than 10x on the listed genes).
    """
    both = set(up) & set(down)
    if both:
        raise InputDataError(f"gene {sorted(both)[0]!r} is listed both up and down")
    if strength <= 0:
        raise InputDataError(f"the gene-set strength must be positive, not {strength}")
    listed = pd.Series({**{g: strength for g in up}, **{g: -strength for g in down}},
                       dtype=np.float64)
    if not spare_others:
        return DesignTarget(listed, label, "gene_set")
    skipped = set(treatments) - set(listed.index)
    values = pd.Series(0.0, index=[g for g in gene_names if g not in skipped])
    if len(listed.index.difference(values.index)):
        return DesignTarget(listed, label, "gene_set")   # aligned() names the unknown genes
    values[listed.index] = listed
    return DesignTarget(values, label, "gene_set")


def read_target_table(path: str | os.PathLike, gene_names: Sequence[str],
                      options: TargetOptions | None = None,
                      treatments: Sequence[str] = ()) -> DesignTarget:
    """A target from a CSV / TSV file with a ``gene`` column and either a ``direction``
    column (``up`` / ``down``: a signed gene set) or an ``lfc`` column (target ATEs on the
    listed genes)."""
    options = options or TargetOptions()
    path = Path(path)
    sep = "\t" if path.suffix in (".tsv", ".txt") else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype={"gene": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read the target file {str(path)!r}: {exc}") from None
    columns = {c.lower(): c for c in table.columns}
    if "gene" not in columns or not ({"direction", "lfc"} & set(columns)):
        raise InputFileError(f"target file {str(path)!r} needs a 'gene' column and a "
                             "'direction' (up/down) or 'lfc' column")
    genes = table[columns["gene"]].astype(str).str.strip()
    if genes.duplicated().any():
        raise InputFileError(f"gene {genes[genes.duplicated()].iloc[0]!r} appears twice in "
                             f"{str(path)!r}")
    if "direction" in columns:
        direction = table[columns["direction"]].astype(str).str.strip().str.lower()
        bad = ~direction.isin(_UP | _DOWN)
        if bad.any():
            raise InputFileError(f"direction {direction[bad].iloc[0]!r} in {str(path)!r} is "
                                 "not up or down")
        return target_from_gene_set(genes[direction.isin(_UP)].tolist(),
                                    genes[direction.isin(_DOWN)].tolist(), gene_names,
                                    options.strength, label=path.name,
                                    spare_others=options.spare_others, treatments=treatments)
    lfc = pd.to_numeric(table[columns["lfc"]], errors="coerce")
    return DesignTarget(pd.Series(lfc.to_numpy(), index=genes.to_numpy()), path.name, "lfc")


def resolve_target(spec: str, prepared: ad.AnnData | None, gene_names: Sequence[str],
                   options: TargetOptions | None = None,
                   treatments: Sequence[str] = ()) -> DesignTarget:
    """The target a command-line ``--target`` names: ``perturbation:NAME`` (its held-out
    cells), an ``.h5ad`` of cells to reach, or a CSV / TSV table (gene set or LFCs)."""
    options = options or TargetOptions()
    if spec.startswith("perturbation:"):
        if prepared is None:
            raise InputDataError("a perturbation target needs the run's prepared data")
        return target_from_perturbation(prepared, spec.split(":", 1)[1], options.split,
                                        options.top_genes)
    path = Path(spec)
    if not path.is_file():
        raise InputFileError(f"target {spec!r} is neither perturbation:NAME nor an existing "
                             "file (.h5ad cells, or a .csv / .tsv table)")
    if path.suffix == ".h5ad":
        if prepared is None:
            raise InputDataError("a target of cells needs the run's prepared data (controls)")
        from gpo_vae.io import read_h5ad

        return target_from_cells(read_h5ad(path), prepared, options.split, label=path.name,
                                 top_genes=options.top_genes)
    return read_target_table(path, gene_names, options, treatments)


def as_target(target, gene_names: Sequence[str], prepared: ad.AnnData | None = None,
              options: TargetOptions | None = None,
              treatments: Sequence[str] = ()) -> DesignTarget:
    """Any accepted form of a target as a :class:`DesignTarget`: one already made, a
    ``--target`` string (:func:`resolve_target`), an AnnData of cells to reach, a dict
    ``{"up": [...], "down": [...]}`` (a signed gene set) or a Series of target ATEs
    indexed by gene symbol. ``treatments``: the genes a spared gene set leaves out."""
    options = options or TargetOptions()
    if isinstance(target, DesignTarget):
        return target
    if isinstance(target, (str, os.PathLike)):
        return resolve_target(str(target), prepared, gene_names, options, treatments)
    if isinstance(target, ad.AnnData):
        if prepared is None:
            raise InputDataError("a target of cells needs the prepared data (its controls)")
        return target_from_cells(target, prepared, options.split, top_genes=options.top_genes)
    if isinstance(target, dict):
        unknown = set(target) - {"up", "down"}
        if unknown:
            raise InputDataError(f"a gene-set target has keys 'up' and 'down', not "
                                 f"{sorted(unknown)[0]!r}")
        return target_from_gene_set(list(target.get("up", [])), list(target.get("down", [])),
                                    gene_names, options.strength,
                                    spare_others=options.spare_others, treatments=treatments)
    if isinstance(target, pd.Series):
        return DesignTarget(target.astype(np.float64), str(target.name or "lfc"), "lfc")
    raise InputDataError(f"cannot use a {type(target).__name__} as a target; give a "
                         "perturbation:NAME string, a file, an AnnData, a dict of up / down "
                         "genes or a Series of target ATEs")
