"""A torch Dataset over one split of a prepared screen, served a batch at a time.

Indexing with a list of cell positions returns the whole batch: counts are sliced from
the sparse matrix and densified for those rows only, so memory stays at one batch.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset

from gpo_vae.data.prepare import require_prepared


def _dense(block) -> np.ndarray:
    return block.toarray() if sp.issparse(block) else np.asarray(block)


class PerturbationDataset(Dataset):
    """Cells of one split (``train``/``val``/``test``; ``None`` for all) of a prepared screen.

    A batch is a dict of tensors: ``counts`` (B x G), ``dosages`` (B x T), ``qc`` (B),
    ``counterfactual`` (B x G, zeros where none) and ``has_counterfactual`` (B),
    ``delta_x`` (B x T), ``library_size`` (B) and ``cell_index`` (B, rows of the prepared
    AnnData; ``cell_ids`` maps them to the input's cell names).
    """

    def __init__(self, prepared: ad.AnnData, split: str | None = None):
        require_prepared(prepared)
        rows = np.arange(prepared.n_obs) if split is None else \
            np.flatnonzero(prepared.obs["split"].astype(str).to_numpy() == split)
        self.split = split
        self.rows = rows
        self.counts = sp.csr_matrix(prepared.X[rows], dtype=np.float32)
        self.dosages = sp.csr_matrix(prepared.obsm["dosages"][rows], dtype=np.float32)
        self.delta_x = np.asarray(prepared.obsm["delta_x"][rows], dtype=np.float32)
        obs = prepared.obs.iloc[rows]
        self.qc = obs["qc"].to_numpy().astype(np.float32)
        self.library_size = obs["library_size"].to_numpy().astype(np.float32)
        self.counterfactual_index = obs["counterfactual_index"].to_numpy()
        self.profiles = np.asarray(prepared.uns["counterfactual_profiles"], dtype=np.float32)
        self.cell_ids = obs["cell_id"].astype(str).to_numpy()

    def __len__(self) -> int:
        return self.rows.size

    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        cf = self.counterfactual_index[idx]
        has_cf = cf >= 0
        counterfactual = np.zeros((idx.size, self.counts.shape[1]), dtype=np.float32)
        if has_cf.any():
            counterfactual[has_cf] = self.profiles[cf[has_cf]]
        return {
            "counts": torch.from_numpy(_dense(self.counts[idx])),
            "dosages": torch.from_numpy(_dense(self.dosages[idx])),
            "qc": torch.from_numpy(self.qc[idx]),
            "counterfactual": torch.from_numpy(counterfactual),
            "has_counterfactual": torch.from_numpy(has_cf),
            "delta_x": torch.from_numpy(self.delta_x[idx]),
            "library_size": torch.from_numpy(self.library_size[idx]),
            "cell_index": torch.from_numpy(self.rows[idx]),
        }
