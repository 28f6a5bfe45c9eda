"""GRN-alignment loss: the GRN's multi-hop effects should match the measured responses.

With A the q(M) logits, S = A + A^2/T + ... + A^(K+1)/T^K (K = ``hop``) and the loss is
the mean |D S - (deltaX - fc_criteria)| over the batch. D S is computed by propagating
the batch, D A, then (D A) A / T, ...: O(K B T^2) per step where forming the matrix
powers costs O(K T^3), and the first hop is a row gather because D is sparse.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gpo_vae.models.latent import dosage_rows


def alignment_adjacency(mask_logits: Tensor, mask_mode: str = "logits") -> Tensor:
    """The matrix A the alignment propagates: logits, or row-normalised probabilities."""
    if mask_mode == "logits":
        return mask_logits
    probs = torch.sigmoid(mask_logits)
    return probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-8)


def propagate_effects(dosages: Tensor, adjacency: Tensor, hop: int) -> Tensor:
    """D S for S = sum_{k=0..hop} A^(k+1) / T^k, by propagating the batch: (B, T)."""
    n_treatments = adjacency.shape[0]
    current = dosage_rows(dosages, adjacency)
    total = current
    for _ in range(hop):
        current = (current @ adjacency) / n_treatments
        total = total + current
    return total


def effects_by_matrix_powers(dosages: Tensor, adjacency: Tensor, hop: int) -> Tensor:
    """The same D S from explicit matrix powers (reference for tests and benchmarks)."""
    n_treatments = adjacency.shape[0]
    power = adjacency
    series = adjacency.clone()
    for k in range(1, hop + 1):
        power = power @ adjacency
        series = series + power / n_treatments ** k
    return dosages @ series


def _min_max_rows(values: Tensor) -> Tensor:
    low = values.min(dim=1, keepdim=True).values
    high = values.max(dim=1, keepdim=True).values
    return (values - low) / (high - low).clamp_min(1e-8)


def grn_alignment_loss(dosages: Tensor, delta_x: Tensor, mask_logits: Tensor, *, hop: int,
                       fc_criteria: float, mask_mode: str = "logits") -> Tensor:
    """Mean L1 distance between the GRN-propagated effects and the thresholded deltaX.

    ``logits`` mode compares D S with deltaX - fc_criteria directly; ``probs`` mode
    min-max scales each cell's D S and compares it with sigmoid(deltaX - fc_criteria).
    """
    effects = propagate_effects(dosages, alignment_adjacency(mask_logits, mask_mode), hop)
    target = delta_x - fc_criteria
    if mask_mode == "probs":
        effects, target = _min_max_rows(effects), torch.sigmoid(target)
    return (effects - target).abs().mean()


def direct_alignment_loss(mask_logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Binary cross-entropy between q(M) and per-pair direct-edge probabilities, averaged
    over the pairs with ``weight`` > 0 (each weighted by it; the builder gives every
    off-diagonal pair weight 1 and the diagonal 0)."""
    import torch.nn.functional as F

    total = weight.sum().clamp_min(1.0)
    return (F.binary_cross_entropy_with_logits(mask_logits, target, reduction="none")
            * weight).sum() / total
