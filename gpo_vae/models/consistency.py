"""Pseudobulk consistency: decoded perturbation effects should match the training data.

The ELBO alone leaves the per-perturbation effect weakly identified: z_basal can carry
which perturbation a cell got, and q(E | M) then stays at its prior (measured in the
README's ablation: without this term the model's ATEs are near zero). This term
anchors the decoder's treatment pathway: for a perturbation t of
the batch, decode the same z_basal draws with t's latent offset and with none, average
``log1p(1e4 x proportions)`` over those cells, and ask the difference to equal the
pseudobulk shift of the training cells whose only treatment is t (precomputed by
:func:`gpo_vae.data.pseudobulk.treatment_pseudobulk_shifts`). It never sees a held-out
cell.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gpo_vae.constants import TARGET_SUM


class PseudobulkConsistency(nn.Module):
    """Squared error between decoded and training pseudobulk shifts, summed over genes and
    averaged over the (up to ``n_perturbations``) perturbations of a batch."""

    def __init__(self, shifts: np.ndarray, n_cells: np.ndarray, *, n_perturbations: int = 64,
                 n_basal: int = 8, basal: str = "batch"):
        super().__init__()
        self.register_buffer("shifts", torch.as_tensor(np.asarray(shifts), dtype=torch.float32))
        self.register_buffer("valid", torch.as_tensor(np.asarray(n_cells) > 0))
        self.n_perturbations, self.n_basal, self.basal = n_perturbations, n_basal, basal

    def batch_treatments(self, dosages: Tensor) -> Tensor:
        """Treatment rows of the batch's single-treatment cells that have a target, at
        most ``n_perturbations`` of them (a random subset when there are more)."""
        single = (dosages != 0).sum(1) == 1
        rows = dosages[single].abs().argmax(1).unique()
        rows = rows[self.valid[rows]]
        if rows.numel() > self.n_perturbations:
            rows = rows[torch.randperm(rows.numel(), device=rows.device)[:self.n_perturbations]]
        return rows

    def forward(self, model, sample, z_basal: Tensor, dosages: Tensor) -> Tensor:
        """The term for one batch: ``model`` decodes, ``sample`` holds the globals (its
        first particle is used), ``z_basal`` (P, B, L) the batch's draws."""
        rows = self.batch_treatments(dosages)
        if rows.numel() == 0:
            return z_basal.new_zeros(())
        n_cells = min(self.n_basal, z_basal.shape[-2])
        if self.basal == "prior":
            z = torch.randn((1, n_cells, z_basal.shape[-1]), dtype=z_basal.dtype,
                            device=z_basal.device)
        else:
            pick = torch.randperm(z_basal.shape[-2], device=z_basal.device)[:n_cells]
            z = z_basal[:1, pick]
        offsets = sample.masked_edges[0, rows][:, None, :]                   # (K, 1, T)
        qc_effect = sample.qc_effect[:1]
        qc = z.new_zeros(n_cells)
        treated = self._log_expression(model, z, offsets, qc_effect, qc)       # (K, G)
        control = self._log_expression(model, z, torch.zeros_like(offsets[:1]), qc_effect, qc)
        return ((treated - control - self.shifts[rows]) ** 2).sum(-1).mean()

    @staticmethod
    def _log_expression(model, z, offsets, qc_effect, qc) -> Tensor:
        proportions = model.expression_proportions(z, offsets, qc_effect, qc)
        return torch.log1p(TARGET_SUM * proportions).mean(-2)
