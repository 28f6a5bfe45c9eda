"""Pseudobulk consistency: decoded effects should match every observed condition.

The ELBO alone leaves the per-perturbation effect weakly identified: z_basal can carry
which perturbation a cell got, and q(E | M) then stays at its prior (docs/results.md:
without this term the model's ATEs are near zero). This term anchors the decoder's
treatment pathway: for a condition of the batch (one treatment or a combination),
decode the same z_basal draws with the condition's latent offset (the sum of its
treatments' rows) and with none, average ``log1p(1e4 x proportions)`` over those cells,
and ask the difference to equal the pseudobulk shift of the training cells with
exactly that condition (:func:`gpo_vae.data.pseudobulk.condition_pseudobulk`). Every
condition anchors, so a gene perturbed only inside combinations is learned too. It never
sees a held-out cell.

With gene features (:mod:`gpo_vae.models.features`) two things are added:

- the feature pathway: the offset built from the feature-predicted rows alone is decoded
  and matched to the same shifts, so the feature map learns what a gene's features say
  about its effect (this is all an unseen gene gets);
- shrinkage: the full offset's target is the measured shift pulled toward the feature
  pathway's prediction by each gene's reliability ``r = tau^2 / (tau^2 + noise)``
  (:meth:`~gpo_vae.data.pseudobulk.ConditionPseudobulk.reliability`): ``r * shift +
  (1 - r) * predicted``. Well-measured conditions keep their shift; one of few cells
  borrows from what the other conditions teach (empirical Bayes).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gpo_vae.constants import TARGET_SUM
from gpo_vae.data.pseudobulk import treatment_keys
from gpo_vae.models.latent import dosage_entries, dosage_rows


def condition_keys(dosages: Tensor, treatment_keys: Tensor) -> Tensor:
    """One int64 per row naming its set of non-zero treatments (the sum of the
    treatments' keys, :func:`gpo_vae.data.pseudobulk.treatment_keys`)."""
    cells, treatments, _ = dosage_entries(dosages)
    out = torch.zeros(dosages.shape[0], dtype=torch.int64, device=dosages.device)
    return out.index_add_(0, cells, treatment_keys[treatments])


class PseudobulkConsistency(nn.Module):
    """Squared error between decoded and training pseudobulk shifts, summed over genes and
    averaged over the (up to ``n_perturbations``) conditions of a batch.

    Parameters
    ----------
    dosages, shifts
        (C, T) dosage row and (C, G) training shift of every observed condition.
    reliability
        (C, G) weights of the measured shifts against the feature pathway's prediction
        (only used with ``features``; None: trust every shift fully).
    feature_shifts
        (C, G) targets of the feature pathway (default ``shifts``): the shifts denoised
        onto a co-expression span (:meth:`~gpo_vae.data.pseudobulk.ConditionPseudobulk.
        projected_shifts`), so the map shared by all genes learns the shared part.
    features
        Whether the guide has a feature pathway to anchor and shrink toward.
    """

    def __init__(self, dosages: np.ndarray, shifts: np.ndarray, *,
                 reliability: np.ndarray | None = None, features: bool = False,
                 feature_shifts: np.ndarray | None = None,
                 n_perturbations: int = 64, n_basal: int = 8, basal: str = "batch"):
        super().__init__()
        # the training statistics are stored in checkpoints, so a loaded model's loss is
        # the trained one's; the condition keys are derived from them
        dosages = torch.as_tensor(np.asarray(dosages), dtype=torch.float32)
        shifts = torch.as_tensor(np.asarray(shifts), dtype=torch.float32)
        self.register_buffer("dosages", dosages)
        self.register_buffer("shifts", shifts)
        self.register_buffer("reliability", torch.ones_like(shifts) if reliability is None
                             else torch.as_tensor(np.asarray(reliability), dtype=torch.float32))
        self.register_buffer("feature_shifts", shifts.clone() if feature_shifts is None
                             else torch.as_tensor(np.asarray(feature_shifts),
                                                  dtype=torch.float32))
        keys = torch.as_tensor(treatment_keys(dosages.shape[1]))
        self.register_buffer("treatment_keys", keys, persistent=False)
        self.register_buffer("sorted_keys", torch.zeros(0, dtype=torch.int64), persistent=False)
        self.register_buffer("key_order", torch.zeros(0, dtype=torch.int64), persistent=False)
        self._index_conditions()
        self.register_load_state_dict_post_hook(lambda module, _: module._index_conditions())
        self.features = features
        self.n_perturbations, self.n_basal, self.basal = n_perturbations, n_basal, basal

    def _index_conditions(self) -> None:
        """Sort the conditions' keys for the batch lookup (again after loading weights)."""
        condition = condition_keys(self.dosages, self.treatment_keys)
        order = torch.argsort(condition)
        self.sorted_keys, self.key_order = condition[order], order

    @property
    def n_conditions(self) -> int:
        return int(self.dosages.shape[0])

    def batch_conditions(self, dosages: Tensor) -> Tensor:
        """Indices of the observed conditions among the batch's treated cells, at most
        ``n_perturbations`` of them (a random subset when there are more)."""
        if self.n_conditions == 0:
            return torch.zeros(0, dtype=torch.int64, device=dosages.device)
        keys = condition_keys(dosages, self.treatment_keys).unique()
        where, found = self._lookup(keys[keys != 0])
        rows = self.key_order[where[found]]
        if rows.numel() > self.n_perturbations:
            rows = rows[torch.randperm(rows.numel(), device=rows.device)[:self.n_perturbations]]
        return rows

    def observed(self, dosages: Tensor) -> Tensor:
        """Whether each dosage row's set of treatments (doses aside) is a condition with
        training cells, (N,) bool."""
        if self.n_conditions == 0:
            return torch.zeros(dosages.shape[0], dtype=torch.bool, device=dosages.device)
        return self._lookup(condition_keys(dosages, self.treatment_keys))[1]

    def _lookup(self, keys: Tensor) -> tuple[Tensor, Tensor]:
        """Positions of condition ``keys`` among the sorted keys, and whether each is
        there (needs at least one condition)."""
        where = torch.searchsorted(self.sorted_keys, keys).clamp_max(self.n_conditions - 1)
        return where, self.sorted_keys[where] == keys

    def forward(self, model, sample, z_basal: Tensor, dosages: Tensor) -> Tensor:
        """The term for one batch: ``model`` decodes, ``sample`` holds the globals (its
        first particle is used), ``z_basal`` (P, B, L) the batch's draws."""
        rows = self.batch_conditions(dosages)
        if rows.numel() == 0:
            return z_basal.new_zeros(())
        n_cells = min(self.n_basal, z_basal.shape[-2])
        if self.basal == "prior":
            z = torch.randn((1, n_cells, z_basal.shape[-1]), dtype=z_basal.dtype,
                            device=z_basal.device)
        else:
            pick = torch.randperm(z_basal.shape[-2], device=z_basal.device)[:n_cells]
            z = z_basal[:1, pick]
        condition_dosages = self.dosages[rows]
        offsets = [dosage_rows(condition_dosages, sample.masked_edges[:1])[0]]      # (K, T)
        use_features = self.features and sample.feature_rows is not None
        if use_features:
            offsets.append(dosage_rows(condition_dosages, sample.feature_rows))
        offsets.append(torch.zeros_like(offsets[0][:1]))
        stacked = torch.cat([condition_dosages] * (len(offsets) - 1)
                            + [torch.zeros_like(condition_dosages[:1])])
        decoded = self._log_expression(model, z, torch.cat(offsets)[:, None, :],
                                       sample.qc_effect[:1], stacked)
        predicted = decoded[:-1] - decoded[-1:]
        target = self.shifts[rows]
        if not use_features:
            return ((predicted - target) ** 2).sum(-1).mean()
        full, from_features = predicted.chunk(2)
        weight = self.reliability[rows]
        shrunk = weight * target + (1 - weight) * from_features.detach()
        return ((full - shrunk) ** 2).sum(-1).mean() + \
            ((from_features - self.feature_shifts[rows]) ** 2).sum(-1).mean()

    @staticmethod
    def _log_expression(model, z, offsets, qc_effect, dosages) -> Tensor:
        qc = z.new_zeros(z.shape[-2])
        proportions = model.expression_proportions(z, offsets, qc_effect, qc, dosages,
                                                   conditions=True)
        return torch.log1p(TARGET_SUM * proportions).mean(-2)
