"""Small network building blocks shared by the generative model and the guide."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Residual(nn.Module):
    """``h + f(h)``: the skip connection of the authors' MLPs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, value: Tensor) -> Tensor:
        return value + self.inner(value)


def hidden_stack(n_hidden: int, n_layers: int, residual: bool = False) -> nn.Sequential:
    """LeakyReLU after the first layer, then ``n_layers - 1`` more hidden layers, each
    with a skip connection around it when ``residual`` (the authors' residual MLPs)."""
    layers: list[nn.Module] = [nn.LeakyReLU()]
    for _ in range(n_layers - 1):
        block = nn.Sequential(nn.Linear(n_hidden, n_hidden), nn.LeakyReLU())
        layers.append(Residual(block) if residual else block)
    return nn.Sequential(*layers)


class BlockLinear(nn.Module):
    """A linear layer over the concatenation of named input blocks, kept as one weight
    matrix per block.

    Equal to ``nn.Linear`` on ``torch.cat(blocks)``, but a block that is shared by all
    particles (the cell's expression) or zero for most cells (the QC offset) can be
    multiplied once instead of once per particle.
    """

    def __init__(self, block_sizes: dict[str, int], n_out: int):
        super().__init__()
        self.block_sizes = dict(block_sizes)
        fan_in = sum(block_sizes.values())
        bound = fan_in ** -0.5  # nn.Linear's default initialisation over the whole input
        self.weights = nn.ParameterDict({
            name: nn.Parameter(torch.empty(n_out, size).uniform_(-bound, bound))
            for name, size in block_sizes.items()
        })
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def block(self, name: str, value: Tensor) -> Tensor:
        """The contribution of one block (no bias)."""
        return value @ self.weights[name].T
