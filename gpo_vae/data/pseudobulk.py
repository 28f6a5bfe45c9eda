"""Log-normalisation and per-group means of AnnData, kept sparse (see gpo_vae.stats)."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae import stats
from gpo_vae.constants import OBS_LIBRARY_SIZE, OBS_SPLIT, OBSM_DOSAGES
from gpo_vae.data.schema import counts_matrix, gene_symbols
from gpo_vae.stats.additive import additive_weights
from gpo_vae.stats.shrinkage import shrink_toward, signal_share


def log_normalize(
    adata: ad.AnnData,
    counts_layer: str | None = None,
    gene_symbol_key: str | None = None,
    target_sum: float = 1e4,
) -> ad.AnnData:
    """A new AnnData with ``log1p(target_sum * x / total)`` in X (sparse stays sparse),
    gene symbols as var_names and the original obs."""
    return ad.AnnData(
        X=stats.log_normalize(counts_matrix(adata, counts_layer), target_sum),
        obs=adata.obs.copy(),
        var=pd.DataFrame(index=gene_symbols(adata, gene_symbol_key)),
    )


def group_means(adata: ad.AnnData, key: str) -> pd.DataFrame:
    """Mean of X per value of ``obs[key]`` (groups x genes), by :func:`gpo_vae.stats.group_means`;
    groups with cells, in category order (sorted unless ``obs[key]`` is categorical)."""
    labels = pd.Categorical(adata.obs[key]).remove_unused_categories()
    groups = pd.Index(labels.categories.astype(str))
    means, _ = stats.group_means(adata.X, np.asarray(labels.astype(str)), groups)
    return pd.DataFrame(means, index=groups, columns=adata.var_names)


@dataclass
class ConditionPseudobulk:
    """Training pseudobulk of every observed condition (a distinct set of treatments).

    A condition is what a group of cells received: one treatment, or a combination.
    ``means`` are per-condition means of ``log1p(target_sum * x / library)``; ``shifts``
    subtract the controls' mean. ``within_var`` is each gene's pooled within-condition
    variance (the noise a per-condition mean of ``n`` cells carries is ``within_var / n``).
    """

    dosages: np.ndarray        # (C, T) float32, the dosage row of each condition
    means: np.ndarray          # (C, G) float32
    n_cells: np.ndarray        # (C,) int64
    control_mean: np.ndarray   # (G,) float32
    n_control: int
    within_var: np.ndarray     # (G,) float32
    # targets of a model's shared feature map (see projected_shifts); None: the shifts
    feature_shifts: np.ndarray | None = None

    @property
    def shifts(self) -> np.ndarray:
        """Mean shift of each condition from the controls, (C, G)."""
        return (self.means - self.control_mean).astype(np.float32)

    def projected_shifts(self, basis: np.ndarray, own_columns: np.ndarray) -> np.ndarray:
        """Shifts (C, G) projected onto the span of ``basis`` (G x K), except each
        condition's own target genes (``own_columns``: gene column of each treatment, -1
        if unmeasured), which keep their measured shift. A low-dimensional co-expression
        span is where responses shared across genes live (the linear baseline predicts
        only there); the rest of a shift measured on tens of cells is mostly noise that a
        map shared across perturbations should not chase."""
        shifts = self.shifts.astype(np.float64)
        q, _ = np.linalg.qr(np.asarray(basis, dtype=np.float64))
        own = np.zeros_like(shifts, dtype=bool)
        for c, t in zip(*np.nonzero(self.dosages), strict=True):
            if own_columns[t] >= 0:
                own[c, own_columns[t]] = True
        outside = np.where(own, 0.0, shifts)
        out = (outside @ q) @ q.T
        return np.where(own, shifts, out).astype(np.float32)

    def noise(self) -> np.ndarray:
        """Variance of each measured shift (C, G): ``sigma^2 (1/n + 1/n_control)`` for a
        mean of ``n`` cells, ``sigma^2`` the pooled within-condition variance."""
        return self.within_var[None, :] * (1.0 / np.maximum(self.n_cells, 1)[:, None]
                                           + 1.0 / max(self.n_control, 1))

    def reliability(self) -> np.ndarray:
        """Per condition and gene, the share of a measured shift that is signal:
        ``max(0, 1 - noise / shift^2)`` (C, G), with :meth:`noise` the variance of the
        shift. This is the Wiener weight ``tau^2 / (tau^2 + noise)`` with each entry's
        own signal variance ``tau^2 = shift^2 - noise`` (method of moments): perturbation
        effects are sparse (a gene moves under a few perturbations, not all), and a prior
        pooled over conditions would shrink the rare large effects that matter most. A
        shift within its noise is trusted little and pulled toward what the model's
        features predict; a shift well above it is kept (empirical Bayes, which a
        per-condition mean cannot do)."""
        return signal_share(self.shifts, self.noise())

    def additive_prior(self, prior: np.ndarray | None = None) -> np.ndarray:
        """``prior`` (default the shifts), with each combination's row replaced by what
        the additive model of every condition says of it: its treatments' effects fitted
        by least squares over all the shifts, singles and combinations
        (:mod:`gpo_vae.stats.additive`), summed at its doses (C, G). A combination whose
        treatment appears nowhere else keeps its own shift (the fit is exact there)."""
        out = np.array(self.shifts if prior is None else prior, dtype=np.float32)
        combinations = (self.dosages != 0).sum(1) > 1
        if combinations.any():
            weights = additive_weights(self.dosages, self.dosages[combinations])
            out[combinations] = weights @ self.shifts.astype(np.float64)
        return out

    def shrunk_toward(self, prior: np.ndarray) -> np.ndarray:
        """The shifts pulled toward ``prior`` (C, G), entry by entry, by the positive-part
        James-Stein weight (:func:`gpo_vae.stats.shrinkage.shrink_toward`). Where
        ``prior`` equals the shift nothing changes."""
        return shrink_toward(self.shifts, prior, self.noise())


def treatment_keys(n_treatments: int) -> np.ndarray:
    """A fixed random 62-bit key per treatment; a condition's key is the sum of its
    treatments' keys (wrapping on overflow; collisions are astronomically unlikely). One
    rule for the data here and the model's batch lookup
    (:mod:`gpo_vae.models.consistency`)."""
    return np.random.default_rng(0).integers(1, 2**62, size=n_treatments, dtype=np.int64)


def _condition_keys(dosages) -> np.ndarray:
    """One integer per cell naming its set of treatments (0 for controls)."""
    keys = treatment_keys(dosages.shape[1])
    rows = np.repeat(np.arange(dosages.shape[0]), np.diff(dosages.indptr))
    out = np.zeros(dosages.shape[0], dtype=np.int64)
    with np.errstate(over="ignore"):
        np.add.at(out, rows, keys[dosages.indices])
    return out


def condition_pseudobulk(prepared: ad.AnnData, split: str = "train",
                         target_sum: float = 1e4) -> ConditionPseudobulk:
    """The pseudobulk of every condition with cells in ``split`` (controls apart).

    Written here rather than with ``scanpy.get.aggregate`` because conditions are rows of
    the dosage matrix, not an ``obs`` column; counts are read a row block at a time and
    stay sparse, so a backed (out-of-core) screen is never held whole.
    """
    import scipy.sparse as sp

    from gpo_vae.data.rows import counts_of

    cells = np.flatnonzero(prepared.obs[OBS_SPLIT].astype(str).to_numpy() == split)
    dosages = sp.csr_matrix(prepared.obsm[OBSM_DOSAGES][cells])
    dosages.eliminate_zeros()
    keys = _condition_keys(dosages)
    unique, first, group = np.unique(keys, return_index=True, return_inverse=True)
    group = group.ravel()
    n_groups, n_genes = unique.size, prepared.n_vars
    library = prepared.obs[OBS_LIBRARY_SIZE].to_numpy()[cells]
    sums, squares = np.zeros((n_groups, n_genes)), np.zeros((n_groups, n_genes))
    counts = counts_of(prepared).subset(cells)
    for start, block in counts.blocks():
        rows = slice(start, start + block.shape[0])
        expression = stats.log1p_per_library(block, library[rows], target_sum)
        indicator = sp.csr_matrix((np.ones(expression.shape[0]),
                                   (group[rows], np.arange(expression.shape[0]))),
                                  shape=(n_groups, expression.shape[0]))
        sums += (indicator @ expression).toarray()
        squares += (indicator @ expression.multiply(expression)).toarray()
    n_cells = np.bincount(group, minlength=n_groups)
    means = sums / np.maximum(n_cells, 1)[:, None]
    pooled = (squares - n_cells[:, None] * means ** 2).sum(0) / max(cells.size - n_groups, 1)
    control = unique == 0
    control_mean = means[control][0] if control.any() else np.zeros(n_genes)
    kept = ~control
    return ConditionPseudobulk(
        dosages=dosages[first[kept]].toarray().astype(np.float32),
        means=means[kept].astype(np.float32), n_cells=n_cells[kept].astype(np.int64),
        control_mean=control_mean.astype(np.float32),
        n_control=int(n_cells[control].sum()), within_var=np.clip(pooled, 0, None)
        .astype(np.float32))
