"""The latent perturbation offset D (M * E): each cell's treatments pick rows of the
masked edge-weight matrix.

Dosage rows are almost all one-hot, so gathering rows costs O(nnz x T) per particle
where a dense product would cost O(B x T^2).
"""

from __future__ import annotations

import torch
from torch import Tensor


def dosage_entries(dosages: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(cell index, treatment index, dosage) of the non-zero dosages of a (B, T) batch."""
    cells, treatments = torch.nonzero(dosages, as_tuple=True)
    return cells, treatments, dosages[cells, treatments]


def dosage_rows(dosages: Tensor, matrix: Tensor) -> Tensor:
    """``dosages @ matrix`` for (B, T) dosages and a (..., T, K) matrix -> (..., B, K)."""
    cells, treatments, values = dosage_entries(dosages)
    rows = matrix[..., treatments, :] * values[:, None]
    out = rows.new_zeros((*matrix.shape[:-2], dosages.shape[0], matrix.shape[-1]))
    return out.index_add_(out.dim() - 2, cells, rows)
