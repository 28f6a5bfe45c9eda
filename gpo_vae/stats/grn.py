"""Model-free GRN scores from interventional cells, the baselines a learned GRN must beat.

Each takes cells (expression on a log scale, such as the "perturbseq" log2 transform,
and one perturbation label per cell) and the
perturbed genes, and returns a T x T score frame (rows regulate columns, higher = more
likely an edge):
- :func:`correlation_scores`: |correlation| of the two genes over the cells (symmetric);
- :func:`mean_shift_scores`: |standardised mean difference| of b between a-perturbed and
  control cells; it scores *reachability* (a changes b directly or through other genes);
- :func:`direct_shift_scores`: the mean shift with the best two-step path explained away,
  the path's factors shrunk by their standard errors, a simple score for *direct* edges;
- :func:`interventional_regression_scores`: a sparse regression of each gene on the other
  perturbed genes over the cells where it was not itself perturbed (CausalBench-style).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _columns(expression, gene_names: Sequence[str], genes: Sequence[str]):
    """Dense (cells x len(genes)) block of ``expression`` with zeros for unmeasured genes."""
    position = {g: i for i, g in enumerate(gene_names)}
    cols = np.array([position.get(g, -1) for g in genes])
    measured = cols >= 0
    block = np.zeros((expression.shape[0], len(genes)), dtype=np.float64)
    if measured.any():
        sub = expression[:, cols[measured]]
        block[:, measured] = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    return block, measured


def correlation_scores(expression, gene_names: Sequence[str], genes: Sequence[str]
                       ) -> pd.DataFrame:
    """|Pearson correlation| between the genes' expression over the given cells.

    Parameters
    ----------
    expression
        Cells x measured genes (dense or sparse).
    gene_names
        One symbol per column of ``expression``.
    genes
        The genes to score (rows and columns of the result).

    Returns
    -------
    DataFrame
        Symmetric ``genes`` x ``genes`` scores; 0 for unmeasured or constant genes.
    """
    block, measured = _columns(expression, gene_names, genes)
    std = block.std(axis=0)
    ok = measured & (std > 0)
    corr = np.zeros((len(genes), len(genes)))
    if ok.sum() > 1:
        corr[np.ix_(ok, ok)] = np.abs(np.corrcoef(block[:, ok], rowvar=False))
    return pd.DataFrame(corr, index=list(genes), columns=list(genes))


def _soft_threshold(values: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.maximum(np.abs(values) - noise, 0.0)


def direct_shift_scores(shifts: pd.DataFrame, standard_errors: np.ndarray | None = None,
                        shrink: float = 2.0) -> pd.DataFrame:
    """Direct-edge scores from signed standardised mean shifts.

    In a linear chain a -> b -> c, knocking a down moves c by about
    ``shift[a, b] * shift[b, c] / shift[b, b]`` (a moves b, and b's own knockdown of size
    ``shift[b, b]`` moves c by ``shift[b, c]``). The score of a -> c is
    ``|shift[a, c] - e|`` for the largest such two-step explanation ``e`` through one
    gene b: what is left of the total effect once the indirect one is taken out (linear
    effects add, so an explanation of the opposite sign leaves a larger direct effect).
    Effects that pass through another perturbed gene then rank below direct ones (the
    first term of a network deconvolution, which the full inverse does poorly on noisy
    shifts).

    Parameters
    ----------
    shifts
        T x T signed shifts, regulator rows and target columns on the same genes; the
        diagonal holds each perturbation's effect on its own gene.
    standard_errors
        One per regulator row, in the shifts' units (see :func:`shift_standard_errors`).
        The two factors of an explanation are then first shrunk towards zero
        (soft-thresholded) by their noise, ``shift[a, b]`` by one standard error of a and
        ``shift[b, c]`` by ``shrink`` standard errors of b, and a gene b whose own
        knockdown is within ``shrink`` standard errors explains nothing; so a two-step
        path made of noise is unlikely to explain a real direct edge away.
    shrink
        Standard errors of the second factor's shrinkage.

    Returns
    -------
    DataFrame
        T x T non-negative scores on the same genes, zero on the diagonal.
    """
    t = shifts.to_numpy(dtype=float)
    own = np.diag(t).copy()
    first, second, strong = t.copy(), t.copy(), own != 0
    if standard_errors is not None:
        noise = np.asarray(standard_errors, dtype=float)
        first = _soft_threshold(t, noise[:, None])
        second = _soft_threshold(t, shrink * noise[:, None])
        strong &= np.abs(own) > shrink * noise
    off = t.copy()
    np.fill_diagonal(off, 0.0)
    np.fill_diagonal(first, 0.0)
    best = np.zeros_like(t)
    # one intermediate gene b at a time: memory O(T^2), where broadcasting over
    # (a, b, c) at once would need O(T^3) (gigabytes for genome-scale screens)
    for b in np.flatnonzero(strong):
        step = second[b] / own[b]
        step[b] = 0.0
        candidate = first[:, b, None] * step[None, :]              # a -> b -> c
        better = np.abs(candidate) > np.abs(best)
        best[better] = candidate[better]
    direct = np.abs(off - best)
    np.fill_diagonal(direct, 0.0)
    return pd.DataFrame(direct, index=shifts.index, columns=shifts.columns)


def shift_standard_errors(labels: np.ndarray, control_label: str,
                          genes: Sequence[str]) -> np.ndarray:
    """Standard error of each regulator's standardised mean shift, in control sds.

    Parameters
    ----------
    labels
        Each cell's perturbation label.
    control_label
        The label of control cells.
    genes
        The regulators.

    Returns
    -------
    ndarray
        sqrt(1/n_a + 1/n_control) for the n_a cells perturbed in each gene a (the
        perturbed cells' spread taken as the control's); inf where a has no cells.
    """
    labels = np.asarray(labels).astype(str)
    counts = pd.Series(labels).value_counts()
    n_control = counts.get(control_label, 0)
    n = counts.reindex(list(genes)).fillna(0).to_numpy(dtype=float)
    with np.errstate(divide="ignore"):
        return np.sqrt(1.0 / n + 1.0 / n_control)


def direct_shifts_from_cells(expression, gene_names: Sequence[str], labels: np.ndarray,
                             control_label: str, genes: Sequence[str]
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signed mean shifts and their noise-shrunk direct-shift scores from cells.

    Parameters
    ----------
    expression, gene_names, labels, control_label, genes
        As for :func:`mean_shift_scores`.

    Returns
    -------
    tuple of DataFrame
        The signed standardised mean shifts and the direct-shift scores
        (:func:`direct_shift_scores` with :func:`shift_standard_errors`), both
        ``genes`` x ``genes``.
    """
    signed = mean_shift_scores(expression, gene_names, labels, control_label, genes,
                               signed=True)
    noise = shift_standard_errors(labels, control_label, genes)
    return signed, direct_shift_scores(signed, noise)


def mean_shift_scores(expression, gene_names: Sequence[str], labels: np.ndarray,
                      control_label: str, genes: Sequence[str],
                      signed: bool = False) -> pd.DataFrame:
    """|standardised mean difference| of b between a-perturbed and control cells.

    Parameters
    ----------
    expression
        Cells x measured genes (dense or sparse), on a log scale.
    gene_names
        One symbol per column of ``expression``.
    labels
        Each cell's perturbation label; a regulator's cells carry its name.
    control_label
        The label of control cells.
    genes
        Regulators (rows) and targets (columns) of the result.
    signed
        Keep the sign (perturbed minus control).

    Returns
    -------
    DataFrame
        ``genes`` x ``genes``: (mean of b in a's cells - control mean) / control sd;
        0 where a has no cells or b is not measured.
    """
    return shift_scores_from_blocks([(expression, labels)], gene_names, control_label, genes,
                                    signed)


def shift_scores_from_blocks(blocks: Iterable[tuple[object, np.ndarray]],
                             gene_names: Sequence[str], control_label: str,
                             genes: Sequence[str], signed: bool = False) -> pd.DataFrame:
    """:func:`mean_shift_scores` from cells served in row blocks of ``(expression,
    labels)``: only per-group sums and the controls' sums of squares are kept, so a
    genome-scale screen read a block at a time from disk is never held whole."""
    from gpo_vae.stats import group_means

    position = {g: i for i, g in enumerate(gene_names)}
    cols = np.array([position.get(g, -1) for g in genes], dtype=int)
    measured = cols >= 0
    groups = [control_label, *genes]
    sums = np.zeros((len(groups), int(measured.sum())))
    counts = np.zeros(len(groups))
    control_squares = np.zeros(int(measured.sum()))
    for expression, labels in blocks:
        labels = np.asarray(labels).astype(str)
        # only the measured target columns, kept sparse: group sums are one sparse
        # product, where a dense cells x genes block would need gigabytes
        sub = expression[:, cols[measured]]
        sub = sub.astype(np.float64) if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)
        means, n = group_means(sub, labels, groups)
        sums += np.nan_to_num(means) * n[:, None]
        counts += n
        control = sub[labels == control_label]
        squares = control.multiply(control).sum(axis=0) if sp.issparse(control) \
            else (control ** 2).sum(axis=0)
        control_squares += np.asarray(squares).ravel()
    if counts[0] == 0:
        raise ValueError("no control cells to compare the perturbed cells with")
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    sd = np.sqrt(np.maximum(control_squares / counts[0] - means[0] ** 2, 0.0))
    sd = np.where(sd > 1e-12, sd, np.inf)
    scores = np.zeros((len(genes), len(genes)))
    with np.errstate(invalid="ignore"):
        scores[:, measured] = np.nan_to_num((means[1:] - means[0]) / sd, nan=0.0)
    scores = scores if signed else np.abs(scores)
    return pd.DataFrame(scores, index=list(genes), columns=list(genes))


def interventional_regression_scores(expression, gene_names: Sequence[str],
                                     labels: np.ndarray, genes: Sequence[str],
                                     alpha: float = 0.01) -> pd.DataFrame:
    """|Lasso coefficient| of a in the regression of b on the other genes.

    Each gene b is regressed on the standardised expression of the other ``genes`` over
    the cells whose perturbation is not b (an intervention on b breaks b's own equation,
    while interventions on the others are what make their effects identifiable), with
    scikit-learn's ``Lasso``.

    Parameters
    ----------
    expression, gene_names, labels, genes
        As for :func:`mean_shift_scores`.
    alpha
        The lasso penalty (on standardised expression).

    Returns
    -------
    DataFrame
        ``genes`` x ``genes``, regulator rows and target columns; 0 for unmeasured or
        constant genes and on the diagonal.
    """
    from sklearn.linear_model import Lasso

    labels = np.asarray(labels).astype(str)
    block, measured = _columns(expression, gene_names, genes)
    std = block.std(axis=0)
    ok = np.flatnonzero(measured & (std > 0))
    z = (block - block.mean(axis=0)) / np.where(std > 0, std, 1.0)
    scores = np.zeros((len(genes), len(genes)))
    for target in ok:
        features = ok[ok != target]
        rows = labels != str(genes[target])
        if features.size == 0 or rows.sum() < 3:
            continue
        fit = Lasso(alpha=alpha, max_iter=5000).fit(z[rows][:, features], z[rows, target])
        scores[features, target] = np.abs(fit.coef_)
    return pd.DataFrame(scores, index=list(genes), columns=list(genes))
