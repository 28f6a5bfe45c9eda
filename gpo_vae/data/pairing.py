"""Control pairing: match every perturbed cell with a control cell of the same split.

GPO-VAE learns from ``deltaX = |x_cell - x_matched_control|`` on the treatment genes, so
each perturbed cell needs one control that looks like "the same cell, unperturbed".
Three matchings are offered, all on log-normalised treatment-gene expression:

- ``ot``: argmax of each row of an entropic optimal-transport plan (POT Sinkhorn),
- ``wd``: nearest control under a Euclidean distance whose gene weights are the per-gene
  1-D Wasserstein distances between perturbed and control cells (moved genes count more),
- ``hungarian``: optimal one-to-one assignment (scipy), in rounds when controls run out.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from gpo_vae.constants import OBS_MATCHED_CONTROL, OBSM_DELTA_X, UNS_TREATMENTS
from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.progress import progress as progress_bar
from gpo_vae.stats import wasserstein_columns

PAIRING_METHODS = ("ot", "wd", "hungarian")

# Sinkhorn only feeds an argmax, so a loose tolerance (marginal error relative to the
# norm of the control marginal) is enough: at 2000 x 2000 cells the argmax is already
# final at 1e-3 (a few dozen iterations), where 1e-6 takes thousands.
_SINKHORN_ITERATIONS = 1000
_SINKHORN_RELATIVE_TOLERANCE = 1e-3


def pair_controls(
    perturbed: np.ndarray,
    controls: np.ndarray,
    method: str = "ot",
    *,
    seed: int = 0,
    reg: float = 0.05,
    max_controls: int | None = 5000,
) -> np.ndarray:
    """For each perturbed cell (row), the index of its matched row in ``controls``.

    ``perturbed`` holds one perturbation group and ``controls`` the control pool of the
    same split (cells x treatment genes, log-normalised). A pool larger than
    ``max_controls`` is subsampled (seeded); returned indices still index ``controls``.
    ``reg`` is the entropic regularisation of ``ot``, relative to the median cost.
    """
    _check_settings(method, reg, max_controls)
    perturbed = _as_matrix(perturbed, "perturbed cells")
    controls = _as_matrix(controls, "control cells")
    if controls.shape[0] == 0:
        raise InputDataError(
            "no control cells in this split to pair perturbed cells with; make sure every "
            "split keeps some control cells (check the control label and the split settings)"
        )
    if perturbed.shape[1] != controls.shape[1]:
        raise InputDataError(
            f"perturbed cells have {perturbed.shape[1]} genes but controls have "
            f"{controls.shape[1]}; pass both with the same treatment-gene columns"
        )
    if perturbed.shape[0] == 0:
        return np.empty(0, dtype=np.intp)

    pool = np.arange(controls.shape[0])
    if max_controls is not None and controls.shape[0] > max_controls:
        rng = np.random.default_rng(seed)
        pool = np.sort(rng.choice(controls.shape[0], size=max_controls, replace=False))
        controls = controls[pool]

    x = perturbed.astype(np.float64)
    y = controls.astype(np.float64)
    if method == "ot":
        matched = _pair_ot(x, y, reg)
    elif method == "wd":
        matched = _pair_wd(x, y)
    else:
        matched = _pair_hungarian(x, y)
    return pool[matched]


def pair_all(
    expr,
    groups: np.ndarray,
    is_control: np.ndarray,
    method: str = "ot",
    *,
    seed: int = 0,
    reg: float = 0.05,
    max_controls: int | None = 5000,
) -> np.ndarray:
    """Row index (into ``expr``) of the matched control of every cell; controls map to
    themselves.

    ``expr`` (cells x treatment genes, log-normalised, sparse or dense) is one split;
    ``groups`` labels each cell's perturbation and ``is_control`` marks the controls.
    Groups are paired one at a time, so only one group's rows are densified at once
    (plus the control pool). Each group gets its own seed derived from ``seed``.
    """
    _check_settings(method, reg, max_controls)
    n_cells = expr.shape[0]
    groups = np.asarray(groups)
    is_control = np.asarray(is_control, dtype=bool)
    if groups.shape != (n_cells,) or is_control.shape != (n_cells,):
        raise InputDataError(
            f"expression has {n_cells} cells but got {groups.size} group labels and "
            f"{is_control.size} control flags; pass one label and one flag per cell"
        )
    control_rows = np.flatnonzero(is_control)
    matched = np.arange(n_cells)
    perturbed_rows = np.flatnonzero(~is_control)
    if perturbed_rows.size == 0:
        return matched
    if control_rows.size == 0:
        raise InputDataError(
            "no control cells in this split to pair perturbed cells with; make sure every "
            "split keeps some control cells (check the control label and the split settings)"
        )
    codes, labels = pd.factorize(groups[perturbed_rows])
    if (codes < 0).any():
        raise InputDataError(
            "some perturbed cells have a missing perturbation label; label every "
            "non-control cell or drop the unlabelled ones"
        )

    control_expr = _dense_rows(expr, control_rows)
    # Sorting once and splitting gives every group's rows without a per-group scan.
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(labels)))[:-1]
    group_seeds = np.random.SeedSequence(seed).generate_state(len(labels))
    for code, rows in enumerate(
        progress_bar(np.split(perturbed_rows[order], bounds), desc="pairing controls",
                     unit="perturbations")
    ):
        picked = pair_controls(
            _dense_rows(expr, rows),
            control_expr,
            method,
            seed=int(group_seeds[code]),
            reg=reg,
            max_controls=max_controls,
        )
        matched[rows] = control_rows[picked]
    return matched


class TreatmentExpression:
    """Log-normalised expression of the treatment genes, the space of pairing and of
    ``deltaX = |x_cell - x_matched_control|``.

    Columns follow the treatment table; unmeasured treatment genes are zero. Every
    value depends on its own cell only (``log1p(1e4 x / total)``), so deltaX is computed
    per batch from the counts of the batch's cells and of their matched controls (the
    same numbers whether the counts come from memory or from disk) and never stored as
    a cells x T array.

    Parameters
    ----------
    gene_names
        The count matrix's gene symbols.
    treatments
        The treatment table (``name`` and ``measured`` columns).
    """

    def __init__(self, gene_names: pd.Index, treatments: pd.DataFrame):
        measured = treatments["measured"].to_numpy(dtype=bool)
        names = treatments.loc[measured, "name"].astype(str).tolist()
        self.columns = pd.Index(gene_names).get_indexer(names)
        if (self.columns < 0).any():
            raise InputDataError(
                "measured treatment genes are missing from the genes; prepare the data again")
        self.placement = sp.csr_matrix(
            (np.ones(len(names), dtype=np.float32),
             (np.arange(len(names)), np.flatnonzero(measured))),
            shape=(len(names), len(treatments)))

    def of_lognorm(self, lognorm) -> sp.csr_matrix:
        """Cells x T from log-normalised expression (a matrix or a row-block matrix)."""
        block = lognorm.columns(self.columns) if hasattr(lognorm, "columns") and \
            not sp.issparse(lognorm) else sp.csr_matrix(lognorm)[:, self.columns]
        return sp.csr_matrix(block @ self.placement, dtype=np.float32)

    def of_counts(self, counts) -> sp.csr_matrix:
        """Cells x T from raw counts (a sparse block of rows)."""
        from gpo_vae.stats import log_normalize

        counts = sp.csr_matrix(counts, dtype=np.float32)
        if counts.shape[0] == 0:  # scanpy refuses empty matrices
            return sp.csr_matrix((0, self.placement.shape[1]), dtype=np.float32)
        return self.of_lognorm(log_normalize(counts))

    def delta(self, counts, control_counts) -> np.ndarray:
        """``|x - x_control|`` per row (dense float32) from the counts of cells and of
        their matched controls (row i of ``control_counts`` is cell i's control)."""
        if counts.shape != control_counts.shape:
            raise InputDataError(
                f"got {counts.shape[0]} cells but {control_counts.shape[0]} matched controls; "
                "pass one control row per cell")
        diff = self.of_counts(counts) - self.of_counts(control_counts)
        return np.abs(diff.toarray()).astype(np.float32)


def paired_delta_x(prepared) -> np.ndarray:
    """deltaX of every cell of a prepared AnnData (cells x T, float32), a block at a time.

    Training computes it per batch; this is for copies that keep cells but not their
    matched controls (bootstrap resamples store it as ``obsm['delta_x']``, which the
    dataset then reads instead). An ``obsm['delta_x']`` already there is returned.
    """
    from gpo_vae.data.rows import counts_of

    if OBSM_DELTA_X in prepared.obsm:
        return np.asarray(prepared.obsm[OBSM_DELTA_X], dtype=np.float32)
    counts = counts_of(prepared)
    space = TreatmentExpression(prepared.var_names, prepared.uns[UNS_TREATMENTS])
    matched = prepared.obs[OBS_MATCHED_CONTROL].to_numpy()
    out = np.empty((prepared.n_obs, space.placement.shape[1]), dtype=np.float32)
    for start, block in counts.blocks():
        rows = slice(start, start + block.shape[0])
        out[rows] = space.delta(block, counts[matched[rows]])
    return out


def wasserstein_gene_weights(perturbed: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """Per-gene 1-D Wasserstein distance between perturbed and control cells, summing to 1.

    Used by ``wd`` as gene weights: genes the perturbation moves count more. Falls back to
    uniform weights when the two distributions are identical on every gene.
    """
    weights = wasserstein_columns(perturbed, controls)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(perturbed.shape[1], 1.0 / perturbed.shape[1])
    return weights / total


def _pair_ot(x: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """Argmax of each row of the entropic OT plan (uniform marginals, squared Euclidean)."""
    cost = ot.dist(x, y, metric="sqeuclidean")
    # Subtracting row then column minima leaves the entropic plan unchanged (the shifts
    # are absorbed by the Sinkhorn scalings) but gives every row and column a zero cost,
    # so exp(-cost / reg) never underflows a whole row or column (outlier cells).
    cost -= cost.min(axis=1, keepdims=True)
    cost -= cost.min(axis=0, keepdims=True)
    scale = np.median(cost)
    if scale <= 0:
        scale = cost.max()
    if scale > 0:
        # A fixed reg only makes sense on a cost of known scale.
        cost /= scale
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    tolerance = _SINKHORN_RELATIVE_TOLERANCE * float(np.linalg.norm(b))
    options = {"numItermax": _SINKHORN_ITERATIONS, "stopThr": tolerance}
    with warnings.catch_warnings():
        # Non-convergence within the iteration cap is fine: only the argmax is used.
        warnings.simplefilter("ignore")
        plan, log = ot.sinkhorn(a, b, cost, reg, log=True, **options)
        if _sinkhorn_broke_down(plan, log, tolerance):
            # Plain Sinkhorn hit the float limits (small reg): redo it log-stabilised.
            plan = ot.bregman.sinkhorn_stabilized(a, b, cost, reg, **options)
    if not np.isfinite(plan).all():
        raise InputDataError(
            f"optimal-transport pairing failed numerically at reg={reg}; raise "
            "data.pairing_reg or use pairing method 'wd' or 'hungarian'"
        )
    return plan.argmax(axis=1)


def _sinkhorn_broke_down(plan: np.ndarray, log: dict, tolerance: float) -> bool:
    """Whether POT's plain Sinkhorn stopped on a numerical error (it then returns the
    last finite iterate) rather than converging or reaching the iteration cap."""
    if not (np.isfinite(plan).all() and (plan.max(axis=1) > 0).all()):
        return True
    stopped_early = log["niter"] < _SINKHORN_ITERATIONS - 1
    converged = bool(log["err"]) and log["err"][-1] < tolerance
    return stopped_early and not converged


def _pair_wd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nearest control under the Wasserstein-weighted squared Euclidean distance."""
    scale = np.sqrt(wasserstein_gene_weights(x, y))
    return ot.dist(x * scale, y * scale, metric="sqeuclidean").argmin(axis=1)


def _pair_hungarian(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Optimal one-to-one assignment; with more cells than controls, repeated in rounds
    on the still-unassigned cells so every cell gets a control."""
    cost = ot.dist(x, y, metric="sqeuclidean")
    matched = np.empty(x.shape[0], dtype=np.intp)
    remaining = np.arange(x.shape[0])
    while remaining.size:
        rows, cols = linear_sum_assignment(cost[remaining])
        matched[remaining[rows]] = cols
        remaining = np.delete(remaining, rows)
    return matched


def _check_settings(method: str, reg: float, max_controls: int | None) -> None:
    if method not in PAIRING_METHODS:
        raise ConfigError(
            f"unknown pairing method {method!r}; use one of {', '.join(PAIRING_METHODS)}"
        )
    if (
        isinstance(reg, bool)
        or not isinstance(reg, (int, float, np.number))
        or not (np.isfinite(reg) and reg > 0)
    ):
        raise ConfigError(f"pairing reg must be a positive number, got {reg!r}; use e.g. 0.05")
    if max_controls is not None and (
        isinstance(max_controls, bool)
        or not isinstance(max_controls, (int, np.integer))
        or max_controls < 1
    ):
        raise ConfigError(
            f"max_controls must be a positive integer or None, got {max_controls!r}; "
            "use e.g. 5000, or None to use every control"
        )


def _as_matrix(values, what: str) -> np.ndarray:
    """A finite 2-D array, or a one-line InputDataError."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise InputDataError(
            f"{what} must be a 2-D cells x genes array, got shape {values.shape}; "
            "pass one row per cell"
        )
    if not np.isfinite(values).all():
        raise InputDataError(
            f"{what} contain NaN or infinite values; pairing needs finite log-normalised expression"
        )
    return values


def _dense_rows(expr, rows: np.ndarray) -> np.ndarray:
    """Rows of a sparse or dense matrix as a dense float32 array."""
    block = expr[rows]
    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)
