"""Statistics used in several places (one home each)."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def seeded_torch(seed: int):
    """Seed torch for a block and restore the caller's random state afterwards."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def perturbseq_transform_torch(counts: torch.Tensor, target_sum: float = 1e4) -> torch.Tensor:
    """log2(1 + target_sum x counts / total) of each row (the "perturbseq" transform)."""
    total = counts.sum(-1, keepdim=True).clamp_min(1.0)
    return torch.log2(1.0 + target_sum * counts / total)
