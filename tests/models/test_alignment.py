import pytest
import torch

from gpo_vae.models.alignment import (
    alignment_adjacency,
    effects_by_matrix_powers,
    grn_alignment_loss,
    propagate_effects,
)
from gpo_vae.models.latent import dosage_rows


def _dosages(n_cells: int, n_treatments: int, dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    dosages = torch.zeros(n_cells, n_treatments, dtype=dtype)
    dosages[torch.arange(n_cells), torch.randint(0, n_treatments, (n_cells,), generator=g)] = 1
    dosages[0, :3] = 1          # a triple perturbation
    dosages[1] = 0              # a control cell
    dosages[2, 4] = 0.5         # a partial dosage
    return dosages


@pytest.mark.parametrize("hop", [0, 1, 5])
def test_propagation_equals_matrix_powers_float64(hop):
    n = 40
    adjacency = torch.randn(n, n, dtype=torch.double) * 3
    dosages = _dosages(25, n, torch.double)
    torch.testing.assert_close(propagate_effects(dosages, adjacency, hop),
                               effects_by_matrix_powers(dosages, adjacency, hop),
                               rtol=1e-12, atol=1e-12)


def test_propagation_equals_matrix_powers_float32():
    n = 200
    adjacency = torch.randn(n, n)
    dosages = _dosages(64, n, torch.float32)
    torch.testing.assert_close(propagate_effects(dosages, adjacency, 5),
                               effects_by_matrix_powers(dosages, adjacency, 5),
                               rtol=1e-4, atol=1e-4)


def test_dosage_rows_equals_dense_product_with_particle_dimension():
    dosages = _dosages(10, 7, torch.float32)
    matrix = torch.randn(3, 7, 5)
    torch.testing.assert_close(dosage_rows(dosages, matrix), dosages @ matrix)


def test_probs_mode_uses_row_normalised_probabilities_and_gives_gradients():
    logits = torch.randn(6, 6, requires_grad=True)
    adjacency = alignment_adjacency(logits, "probs")
    torch.testing.assert_close(adjacency.sum(1), torch.ones(6))
    dosages = _dosages(8, 6, torch.float32)
    loss = grn_alignment_loss(dosages, torch.rand(8, 6), logits, hop=2, fc_criteria=0.5,
                              mask_mode="probs")
    loss.backward()
    assert torch.isfinite(loss) and logits.grad.abs().sum() > 0


def test_alignment_loss_is_zero_when_effects_match_the_target():
    n = 5
    adjacency = torch.eye(n) * 2.0
    dosages = torch.eye(n)
    effects = propagate_effects(dosages, adjacency, 1)
    loss = grn_alignment_loss(dosages, effects + 0.3, adjacency, hop=1, fc_criteria=0.3)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
