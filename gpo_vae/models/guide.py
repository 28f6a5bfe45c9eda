"""The guide q: GRN mask, edge weights, QC effect and each cell's basal state.

- q(M): relaxed Bernoulli with straight-through Gumbel-softmax on learnable T x K logits
  (K = T for GPO-VAE's GRN, K = L for SAMS-VAE's embeddings);
- q(E | M): Normal whose mean and scale come from an MLP on row t of M and one-hot(t);
- q(E_qc): Normal from an MLP on a constant input;
- q(z_basal | x, D (M*E), q E_qc): Normal from an MLP on standardised log1p(x) and the
  latent offsets ("correlated"), or on x alone ("mean_field").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gpo_vae.models.distributions import relaxed_bernoulli_straight_through
from gpo_vae.models.nn import BlockLinear, hidden_stack

_MIN_SCALE = 1e-4


def _mean_and_scale(raw: Tensor) -> tuple[Tensor, Tensor]:
    mean, raw_scale = raw.chunk(2, dim=-1)
    return mean, F.softplus(raw_scale) + _MIN_SCALE


@dataclass
class GlobalSample:
    """One draw per particle of the per-perturbation (global) latent variables."""

    mask: Tensor          # (P, T, K), hard 0/1 forward, relaxed gradient
    edge_mean: Tensor     # (P, T, K)
    edge_scale: Tensor    # (P, T, K)
    edges: Tensor         # (P, T, K)
    qc_mean: Tensor       # (L_qc,)
    qc_scale: Tensor      # (L_qc,)
    qc_effect: Tensor     # (P, 1, L_qc)
    # with gene features: h(f_t) per row (T, K) and which rows keep their free GRN part
    feature_rows: Tensor | None = None
    free_rows: Tensor | None = None

    @property
    def masked_edges(self) -> Tensor:
        """The latent effect rows: ``M * E`` (plus ``h(f)``, with ``M * E`` kept only on
        rows with training cells, when the guide has gene features)."""
        free = self.mask * self.edges
        if self.feature_rows is None:
            return free
        return free * self.free_rows[:, None] + self.feature_rows


class EdgeWeightEncoder(nn.Module):
    """q(E_t | M_t): an MLP on [row t of M, one-hot(t)] for every treatment row t.

    The one-hot half of the first layer is a per-row bias (a lookup, not a product).
    """

    def __init__(self, n_treatments: int, n_hidden: int, n_layers: int,
                 residual: bool = False, n_effects: int | None = None):
        super().__init__()
        n_effects = n_treatments if n_effects is None else n_effects
        self.first = BlockLinear({"mask_row": n_effects, "row_id": n_treatments}, n_hidden)
        self.hidden = hidden_stack(n_hidden, n_layers, residual)
        self.out = nn.Linear(n_hidden, 2 * n_effects)

    def forward(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and scale (P, T, K) of E given masks (P, T, K)."""
        row_bias = self.first.weights["row_id"].T + self.first.bias      # (T, H)
        pre = self.first.block("mask_row", mask) + row_bias
        return _mean_and_scale(self.out(self.hidden(pre)))


class QcEffectEncoder(nn.Module):
    """q(E_qc): an MLP on a constant input (one QC group: low-quality cells)."""

    def __init__(self, n_qc_latent: int, n_hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, n_hidden), nn.LeakyReLU(),
                                 nn.Linear(n_hidden, 2 * n_qc_latent))
        self.register_buffer("constant", torch.ones(1))

    def forward(self) -> tuple[Tensor, Tensor]:
        return _mean_and_scale(self.net(self.constant))


class BasalEncoder(nn.Module):
    """q(z_basal | ...): an MLP on standardised log1p(counts) (and the latent offsets).

    The expression block of the first layer is computed once per batch and shared by
    the particles; only the offsets differ between particles.
    """

    def __init__(self, n_genes: int, n_effects: int, n_qc_latent: int, n_latent: int,
                 n_hidden: int, n_layers: int, correlated: bool,
                 log1p_mean: Tensor, log1p_std: Tensor, residual: bool = False):
        super().__init__()
        self.correlated = correlated
        blocks = {"expression": n_genes}
        if correlated:
            blocks |= {"treatment": n_effects, "qc": n_qc_latent}
        self.first = BlockLinear(blocks, n_hidden)
        self.hidden = hidden_stack(n_hidden, n_layers, residual)
        self.out = nn.Linear(n_hidden, 2 * n_latent)
        self.register_buffer("log1p_mean", torch.as_tensor(log1p_mean, dtype=torch.float32))
        self.register_buffer("log1p_std", torch.as_tensor(log1p_std, dtype=torch.float32)
                             .clamp_min(1e-3))

    def expression_features(self, counts: Tensor) -> Tensor:
        """First-layer contribution of the cell's expression, (B, H), shared by particles."""
        standardised = (torch.log1p(counts) - self.log1p_mean) / self.log1p_std
        return self.first.block("expression", standardised) + self.first.bias

    def forward(self, expression: Tensor, treatment_offset: Tensor | None = None,
                qc_offset: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and scale of z_basal from ``expression_features`` (B, H) and, when
        correlated, D(M*E) (P, B, K) and q E_qc (P, B, L_qc)."""
        pre = expression
        if self.correlated:
            pre = pre + self.first.block("treatment", treatment_offset) + \
                self.first.block("qc", qc_offset)
        return _mean_and_scale(self.out(self.hidden(pre)))


class GpoVaeGuide(nn.Module):
    """Variational distributions of GPO-VAE (listed in this module's docstring)."""

    def __init__(self, n_genes: int, n_treatments: int, n_latent: int, n_qc_latent: int, *,
                 log1p_mean: Tensor, log1p_std: Tensor, mask_init: Tensor | float = 0.0,
                 encoder: str = "correlated", basal_encoder_n_hidden: int = 400,
                 basal_encoder_n_layers: int = 1, embedding_encoder_n_hidden: int = 400,
                 embedding_encoder_n_layers: int = 4, temperature: float = 1.0,
                 residual: bool = False, mask_sampling: str = "hard",
                 n_effects: int | None = None, feature_effects: nn.Module | None = None):
        super().__init__()
        self.mask_sampling = mask_sampling
        # gene features -> latent effect rows (gpo_vae.models.features); None: one-hot only
        self.feature_effects = feature_effects
        n_effects = n_treatments if n_effects is None else n_effects
        init = torch.as_tensor(mask_init, dtype=torch.float32)
        self.mask_logits = nn.Parameter(init.expand(n_treatments, n_effects).clone())
        self.temperature = temperature
        self.edge_encoder = EdgeWeightEncoder(n_treatments, embedding_encoder_n_hidden,
                                              embedding_encoder_n_layers, residual, n_effects)
        self.qc_encoder = QcEffectEncoder(n_qc_latent, embedding_encoder_n_hidden)
        self.basal_encoder = BasalEncoder(
            n_genes, n_effects, n_qc_latent, n_latent, basal_encoder_n_hidden,
            basal_encoder_n_layers, encoder == "correlated", log1p_mean, log1p_std, residual)

    @property
    def correlated(self) -> bool:
        return self.basal_encoder.correlated

    def mask_probabilities(self) -> Tensor:
        """q(M) probabilities, (T, K): for GPO-VAE edge probabilities (row = regulator,
        column = target)."""
        return torch.sigmoid(self.mask_logits)

    def sample_globals(self, n_particles: int) -> GlobalSample:
        """Draw M, E | M and E_qc once per particle (reparameterised). With
        ``mask_sampling='expected'`` M is not drawn but set to its q(M) probabilities
        (the offsets then vary between particles through E only)."""
        if self.mask_sampling == "expected":
            mask = self.mask_probabilities().expand(n_particles, -1, -1)
        else:
            mask = relaxed_bernoulli_straight_through(self.mask_logits, n_particles,
                                                      self.temperature)
        edge_mean, edge_scale = self.edge_encoder(mask)
        edges = edge_mean + edge_scale * torch.randn_like(edge_mean)
        qc_mean, qc_scale = self.qc_encoder()
        qc_effect = qc_mean + qc_scale * torch.randn(
            (n_particles, 1, qc_mean.shape[-1]), dtype=qc_mean.dtype, device=qc_mean.device)
        return self._with_features(
            GlobalSample(mask, edge_mean, edge_scale, edges, qc_mean, qc_scale, qc_effect))

    def _with_features(self, sample: GlobalSample) -> GlobalSample:
        """``sample`` with the feature-predicted rows attached (when the guide has them)."""
        if self.feature_effects is not None:
            sample.feature_rows = self.feature_effects()
            sample.free_rows = self.feature_effects.has_data.to(sample.edges.dtype)
        return sample

    def expected_globals(self) -> GlobalSample:
        """The globals at their posterior mean, as one particle: M at the q(M)
        probabilities, E at the mean of q(E | M) given those probabilities, E_qc at its
        mean. Sampling reduces to this as q(M) becomes certain and the scales shrink."""
        mask = self.mask_probabilities()[None]
        edge_mean, edge_scale = self.edge_encoder(mask)
        qc_mean, qc_scale = self.qc_encoder()
        return self._with_features(GlobalSample(mask, edge_mean, edge_scale, edge_mean,
                                                qc_mean, qc_scale, qc_mean.expand(1, 1, -1)))

    def globals_for_prediction(self, how: str) -> GlobalSample:
        """One particle of the globals for predictions: ``mean`` or ``sample``."""
        return self.expected_globals() if how == "mean" else self.sample_globals(1)
