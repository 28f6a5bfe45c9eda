"""Counts of simulated cells: steady-state log expression, artefacts, negative binomial
sampling, and the CSR buffer that collects chunks without doubling peak memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def sample_chunk(rng, cells: pd.DataFrame, *, cfg, network, solver, mu, loadings, theta,
                  mt_index, measured) -> sp.csr_matrix:
    """Counts of one chunk of cells, as float32 CSR over the measured genes."""
    b, g = len(cells), mu.size
    programs = rng.normal(size=(b, cfg.n_programs))
    exogenous = programs @ loadings + rng.normal(0.0, cfg.intrinsic_noise_sd, size=(b, g))
    pert = cells["perturbation"].to_numpy()
    hit = np.flatnonzero(pert >= 0)
    exogenous[hit, network.perturbed[pert[hit]]] += np.log1p(-cells["knockdown"].to_numpy()[hit])
    second = cells["perturbation2"].to_numpy()
    both = np.flatnonzero(second >= 0)
    exogenous[both, network.perturbed[second[both]]] += \
        np.log1p(-cells["knockdown2"].to_numpy()[both])

    log_expr = mu + solver.solve(exogenous)
    # Damaged cells lose cytoplasmic RNA: mitochondrial transcripts dominate what is left.
    low = np.flatnonzero(cells["low_quality"].to_numpy())
    log_expr[np.ix_(low, mt_index)] += np.log(rng.uniform(4.0, 10.0, size=(low.size, 1)))
    log_expr = log_expr[:, measured]
    # softmax by hand: scipy's logsumexp costs several times more on wide chunks
    proportions = np.exp(log_expr - log_expr.max(axis=1, keepdims=True))
    proportions /= proportions.sum(axis=1, keepdims=True)
    # Doublets: two cells captured together (the label is the first cell's guide).
    dbl = np.flatnonzero(cells["doublet"].to_numpy())
    if dbl.size:
        partner = rng.integers(0, b, size=dbl.size)
        proportions[dbl] = 0.5 * (proportions[dbl] + proportions[partner])

    mean = cells["library_size"].to_numpy()[:, None] * proportions
    # negative binomial as a gamma-Poisson mixture (faster than Generator.negative_binomial)
    counts = rng.poisson(rng.gamma(theta, mean / theta))
    return sp.csr_matrix(counts.astype(np.float32))


class CsrRowBuilder:
    """Append CSR row blocks into one growing buffer.

    Stacking a list of chunks (``sp.vstack``) holds every chunk and the result at once,
    doubling peak memory on large screens; here each chunk is copied in and dropped.
    Capacity is extrapolated from the chunks seen so far and grown rarely.
    """

    def __init__(self, n_rows: int, n_cols: int):
        self.n_rows, self.n_cols = n_rows, n_cols
        self.data = np.empty(0, dtype=np.float32)
        self.indices = np.empty(0, dtype=np.int32)
        self.indptr = np.zeros(n_rows + 1, dtype=np.int64)
        self.nnz = self.row = 0

    def append(self, block: sp.csr_matrix) -> None:
        need = self.nnz + block.nnz
        if need > self.data.size:
            per_row = need / (self.row + block.shape[0])
            capacity = max(need, int(per_row * self.n_rows * 1.02) + 1024)
            self.data = np.resize(self.data, capacity)
            self.indices = np.resize(self.indices, capacity)
        self.data[self.nnz : need] = block.data
        self.indices[self.nnz : need] = block.indices
        rows = block.shape[0]
        self.indptr[self.row + 1 : self.row + 1 + rows] = block.indptr[1:] + self.nnz
        self.nnz, self.row = need, self.row + rows

    def finish(self) -> sp.csr_matrix:
        self.data.resize(self.nnz, refcheck=False)  # shrink in place
        self.indices.resize(self.nnz, refcheck=False)
        indptr = self.indptr
        if self.nnz < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        return sp.csr_matrix((self.data, self.indices, indptr), shape=(self.n_rows, self.n_cols))

