"""The knockdown filter: keep perturbed cells whose target moved the way the screen moves
it (down for CRISPRi / knockout, up for CRISPRa), judged against the controls."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.data.filters import _dense_columns, _labels, subset_cells
from gpo_vae.data.schema import counts_matrix, gene_symbols
from gpo_vae.data.treatments import targets_of
from gpo_vae.errors import ConfigError, InputDataError


def knockdown_filter(
    adata: ad.AnnData,
    *,
    perturbation_key: str,
    control_label: str,
    gene_symbol_key: str | None = None,
    counts_layer: str | None = None,
    quantile: float = 0.10,
    combination_separator: str | None = None,
    direction: str = "down",
    counts=None,
) -> tuple[ad.AnnData, dict]:
    """Keep perturbed cells whose target moved the way the screen moves it (escapers are
    dropped): down for knockdown / knockout screens, up for activation (CRISPRa).

    A perturbed cell passes when its target's expression (counts per 10k) is <= the
    ``quantile`` of control cells' expression of that gene (``direction='down'``), or >=
    the ``1 - quantile`` quantile (``'up'``), for every measured target
    (labels like ``A+B`` are split at ``combination_separator``). Cells whose targets
    are not measured, and controls, are kept. Only the target columns are read, a block
    of cells at a time; ``counts`` (e.g. an on-disk
    :class:`~gpo_vae.data.rows.RowMatrix`) is read instead of ``adata``'s matrix when
    given. Returns the filtered copy and a report with ``per_perturbation`` =
    {label: {kept, dropped, measured}}.
    """
    keep, report = knockdown_mask(
        adata, perturbation_key=perturbation_key, control_label=control_label,
        gene_symbol_key=gene_symbol_key, counts_layer=counts_layer, quantile=quantile,
        combination_separator=combination_separator, direction=direction, counts=counts)
    return subset_cells(adata, keep), report


def knockdown_mask(adata: ad.AnnData, *, perturbation_key: str, control_label: str,
                   gene_symbol_key: str | None = None, counts_layer: str | None = None,
                   quantile: float = 0.10, combination_separator: str | None = None,
                   direction: str = "down", counts=None) -> tuple[np.ndarray, dict]:
    """The cells :func:`knockdown_filter` keeps (a boolean mask), and its report."""
    from gpo_vae.data.rows import as_row_matrix

    _check_settings(quantile, direction)
    labels = _labels(adata, perturbation_key)
    codes, uniques = pd.factorize(labels)
    control_code = np.flatnonzero(uniques == control_label)
    control = np.isin(codes, control_code)
    if not control.any():
        raise InputDataError(
            f"no control cells ({control_label!r}) in obs[{perturbation_key!r}]; the "
            "knockdown filter needs them: set data.control_label to your controls' label"
        )
    symbols = gene_symbols(adata, gene_symbol_key)
    column_of = {s: i for i, s in enumerate(symbols)}
    label_genes = {code: [column_of[t] for t in targets_of(label, control_label,
                                                           combination_separator)
                          if t in column_of]
                   for code, label in enumerate(uniques) if code not in control_code}
    counts = as_row_matrix(counts_matrix(adata, counts_layer) if counts is None else counts)
    fail, thresholds = _moved_the_wrong_way(counts, codes, len(uniques), control,
                                            label_genes, quantile, direction == "up")
    keep = ~fail
    per_perturbation = {
        str(uniques[code]): {"kept": int(((codes == code) & keep).sum()),
                             "dropped": int(((codes == code) & fail).sum()),
                             "measured": bool(cols)}
        for code, cols in label_genes.items()}
    report = {
        "n_cells_kept": int(keep.sum()),
        "n_cells_dropped": int(fail.sum()),
        "thresholds": {symbols[g]: value for g, value in thresholds.items()},
        "per_perturbation": per_perturbation,
    }
    return keep, report


def _check_settings(quantile: float, direction: str) -> None:
    if not 0 < quantile < 1:
        raise ConfigError(
            f"knockdown quantile must be between 0 and 1, not {quantile!r}; use e.g. 0.1"
        )
    if direction not in ("down", "up"):
        raise ConfigError(f"knockdown filter direction must be 'down' or 'up', not "
                          f"{direction!r}")


def _moved_the_wrong_way(counts, codes: np.ndarray, n_labels: int, control: np.ndarray,
                         label_genes: dict[int, list[int]], quantile: float,
                         up: bool) -> tuple[np.ndarray, dict[int, float]]:
    """Cells any of whose measured targets did not move past the controls' quantile, and
    the thresholds by gene column. Only the target columns are read, a block of cells at
    a time: memory is one block, not cells x targets."""
    fail = np.zeros(len(codes), dtype=bool)
    genes = sorted({g for cols in label_genes.values() for g in cols})
    if not genes:
        return fail, {}
    totals = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
    scale = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    control_rows = np.flatnonzero(control)
    control_expr = _dense_columns(counts.subset(control_rows), genes) * \
        scale[control_rows, None]
    limits = np.quantile(control_expr, 1 - quantile if up else quantile, axis=0)
    position = {g: j for j, g in enumerate(genes)}
    targets = np.zeros((n_labels, len(genes)), dtype=bool)  # label x target
    for code, cols in label_genes.items():
        targets[code, [position[g] for g in cols]] = True
    for start, block in counts.blocks():
        rows = slice(start, start + block.shape[0])
        expression = block[:, genes].toarray() * scale[rows, None]
        wrong = (expression < limits) if up else (expression > limits)
        fail[rows] = (targets[codes[rows]] & wrong).any(axis=1)
    return fail, dict(zip(genes, map(float, limits), strict=True))
