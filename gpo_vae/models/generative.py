"""The generative model p: priors on the GRN and the latents, and the count decoder.

z_basal ~ N(0, I_L) per cell; M ~ Bernoulli(mask_prior) and E ~ N(0, s^2) on T x K (K = T:
GPO-VAE's GRN among the treatment genes; K = L: SAMS-VAE's per-treatment embeddings);
E_qc ~ N(0, s^2) on 1 x L_qc. The latent is concat(z_basal, D (M*E), q E_qc) or, in sum
mode, z_basal + D (M*E) + q E_qc; an MLP maps it to gene proportions and counts are
negative binomial with mean library_size x proportions and gene-wise inverse dispersion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gpo_vae.models.distributions import negative_binomial_log_likelihood
from gpo_vae.models.nn import BlockLinear, hidden_stack


class CountDecoder(nn.Module):
    """MLP from the latent to per-gene logits of the expression proportions.

    The first layer is split into basal / treatment / QC blocks, so a cell's QC status
    adds one precomputed vector instead of a second decoding of the whole latent.
    """

    def __init__(self, n_genes: int, n_latent: int, n_effects: int, n_qc_latent: int,
                 n_hidden: int, n_layers: int, latent_mode: str, residual: bool = False):
        super().__init__()
        self.latent_mode = latent_mode
        if latent_mode == "concat":
            blocks = {"basal": n_latent, "treatment": n_effects, "qc": n_qc_latent}
        else:
            blocks = {"latent": n_latent}
        self.first = BlockLinear(blocks, n_hidden)
        self.hidden = hidden_stack(n_hidden, n_layers, residual)
        self.out = nn.Linear(n_hidden, n_genes)

    def forward(self, z_basal: Tensor, treatment_offset: Tensor, qc_effect: Tensor,
                qc: Tensor) -> Tensor:
        """Logits (P, B, G) from z_basal (P, B, L), D(M*E) (P, B, K), E_qc (P, 1, L_qc)
        and the QC flag q (B,) of each cell (0 = good, 1 = low quality)."""
        first = self.first
        if self.latent_mode == "concat":
            pre = first.block("basal", z_basal) + first.block("treatment", treatment_offset)
            pre = pre + qc[:, None] * first.block("qc", qc_effect)
        else:
            pre = first.block("latent", z_basal + treatment_offset + qc[:, None] * qc_effect)
        return self.out(self.hidden(pre + first.bias))


class GpoVaeModel(nn.Module):
    """Priors and likelihood of GPO-VAE (the model in this module's docstring)."""

    def __init__(self, n_genes: int, n_treatments: int, n_latent: int, *,
                 mask_prior: float = 0.3, prior_scale: float = 1.0,
                 decoder_n_hidden: int = 400, decoder_n_layers: int = 1,
                 latent_mode: str = "concat", authors_decoder: bool = False,
                 n_effects: int | None = None, own_effect: nn.Module | None = None,
                 linear_response: nn.Module | None = None):
        super().__init__()
        # a perturbation's shift of its own gene and of the genes that follow it, and
        # the linear response (gpo_vae.models.features); None: none
        self.own_effect = own_effect
        self.linear_response = linear_response
        # columns of M and E: T (a GRN among the treatment genes) unless given
        n_effects = n_treatments if n_effects is None else n_effects
        if latent_mode == "sum" and n_latent != n_effects:
            raise ValueError("sum mode needs n_latent == n_effects")
        self.n_genes, self.n_treatments, self.n_latent = n_genes, n_treatments, n_latent
        self.n_effects = n_effects
        self.n_qc_latent = n_latent
        self.mask_prior = mask_prior
        self.prior_scale = prior_scale
        self.latent_mode = latent_mode
        # the authors' decoder has decoder_n_layers + 1 hidden layers with skip connections
        n_hidden_layers = decoder_n_layers + 1 if authors_decoder else decoder_n_layers
        self.decoder = CountDecoder(n_genes, n_latent, n_effects, self.n_qc_latent,
                                    decoder_n_hidden, n_hidden_layers, latent_mode,
                                    residual=authors_decoder)
        # gene-wise inverse dispersion, positive through softplus
        self.raw_inverse_dispersion = nn.Parameter(torch.full((n_genes,), 0.5413))

    @property
    def inverse_dispersion(self) -> Tensor:
        return F.softplus(self.raw_inverse_dispersion) + 1e-4

    def logits(self, z_basal: Tensor, treatment_offset: Tensor, qc_effect: Tensor,
               qc: Tensor, dosages: Tensor | None = None, conditions: bool = False) -> Tensor:
        """Decoder logits (..., B, G). ``dosages`` add the direct shifts (own gene, linear
        response): one row per cell (B, T), or with ``conditions`` one row per condition
        of a (C, B, G) stack."""
        logits = self.decoder(z_basal, treatment_offset, qc_effect, qc)
        shifts = [m for m in (self.own_effect, self.linear_response) if m is not None]
        if not shifts or dosages is None:
            return logits
        shift = sum(m(dosages, self.n_genes) for m in shifts)
        return logits + (shift[:, None, :] if conditions else shift)

    def log_likelihood(self, counts: Tensor, library_size: Tensor, z_basal: Tensor,
                       treatment_offset: Tensor, qc_effect: Tensor, qc: Tensor,
                       dosages: Tensor | None = None) -> Tensor:
        """log p(x | z) per particle and cell, (P, B), decoded with each cell's QC flag."""
        logits = self.logits(z_basal, treatment_offset, qc_effect, qc, dosages)
        return negative_binomial_log_likelihood(
            logits, counts, library_size.clamp_min(1.0), self.inverse_dispersion)

    def expression_proportions(self, z_basal: Tensor, treatment_offset: Tensor,
                               qc_effect: Tensor, qc: Tensor, dosages: Tensor | None = None,
                               conditions: bool = False) -> Tensor:
        """Decoded gene proportions (..., B, G), rows summing to 1 (``dosages`` and
        ``conditions`` as in :meth:`logits`)."""
        return torch.softmax(self.logits(z_basal, treatment_offset, qc_effect, qc, dosages,
                                         conditions), dim=-1)
