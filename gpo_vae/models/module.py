"""GPO-VAE as one module with scvi-tools' shape: ``inference``, ``generative``, ``loss``.

The parts stay separate small pieces (SAMS-VAE style): ``model`` holds the priors and the
count decoder (:class:`~gpo_vae.models.generative.GpoVaeModel`), ``guide`` the
variational distributions (:class:`~gpo_vae.models.guide.GpoVaeGuide`) and ``loss_fn``
the objective's weights and extra terms (:class:`~gpo_vae.models.loss.GpoVaeLoss`).
Training, prediction, the IWELBO and the GRN all go through the methods here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gpo_vae.constants import BATCH_COUNTS, BATCH_DOSAGES, BATCH_LIBRARY_SIZE, BATCH_QC
from gpo_vae.models.guide import GlobalSample
from gpo_vae.models.latent import dosage_rows
from gpo_vae.models.loss import LossOutput


@dataclass
class InferenceOutputs:
    """What the guide inferred for a batch: the globals and q(z_basal | x)."""

    globals_: GlobalSample
    treatment_offset: Tensor   # D (M * E), (P, B, T)
    expression: Tensor         # the encoder's first-layer features of x, (B, H)
    z_mean: Tensor             # (P, B, L)
    z_scale: Tensor            # (P, B, L)
    z: Tensor                  # reparameterised draw, (P, B, L)


@dataclass
class GenerativeOutputs:
    """What the generative model says of a batch given the inferred latents."""

    log_likelihood: Tensor     # log p(x | z), (P, B)


class GpoVaeModule(nn.Module):
    """The generative model, the guide and the loss of GPO-VAE as one module.

    Built by :func:`gpo_vae.models.builder.build_gpo_vae`; ``config`` and ``data_info``
    are what it was built from (a checkpoint stores both).
    """

    def __init__(self, model: nn.Module, guide: nn.Module, loss_fn: nn.Module, *,
                 config=None, data_info=None):
        super().__init__()
        self.model, self.guide, self.loss_fn = model, guide, loss_fn
        self.config, self.data_info = config, data_info

    @property
    def n_latent(self) -> int:
        return self.model.n_latent

    @property
    def n_treatments(self) -> int:
        return self.model.n_treatments

    @property
    def has_grn(self) -> bool:
        """Whether q(M) is a GRN among the treatment genes (GPO-VAE), not a mask over
        latent dimensions (SAMS-VAE)."""
        variant = getattr(getattr(self.config, "model", None), "variant", None)
        return variant != "sams_vae" and self.model.n_effects == self.model.n_treatments

    # --- the three steps -----------------------------------------------------------
    def inference(self, batch: dict[str, Tensor], n_particles: int,
                  globals_: GlobalSample | None = None,
                  sample_z: bool = True) -> InferenceOutputs:
        """Draw the globals (``n_particles`` of them, or use ``globals_``) and z_basal for
        each cell of ``batch`` (reparameterised; at its mean without ``sample_z``, which
        then draws no random number)."""
        guide = self.guide
        sample = guide.sample_globals(n_particles) if globals_ is None else globals_
        n_particles = sample.edges.shape[0]
        dosages, qc = batch[BATCH_DOSAGES], batch[BATCH_QC]
        offset = dosage_rows(dosages, sample.masked_edges)                      # (P, B, T)
        qc_offset = qc[:, None] * sample.qc_effect                              # (P, B, Lq)
        encoder = guide.basal_encoder
        expression = encoder.expression_features(batch[BATCH_COUNTS])
        z_mean, z_scale = encoder(expression, offset, qc_offset)
        z_mean = z_mean.expand(n_particles, *z_mean.shape[-2:])
        z_scale = z_scale.expand_as(z_mean)
        z = z_mean + z_scale * torch.randn_like(z_mean) if sample_z else z_mean
        return InferenceOutputs(sample, offset, expression, z_mean, z_scale, z)

    def generative(self, inference: InferenceOutputs,
                   batch: dict[str, Tensor]) -> GenerativeOutputs:
        """log p(x | z_basal, D(M*E), E_qc) of each cell and particle."""
        log_lik = self.model.log_likelihood(
            batch[BATCH_COUNTS], batch[BATCH_LIBRARY_SIZE], inference.z,
            inference.treatment_offset, inference.globals_.qc_effect, batch[BATCH_QC],
            batch[BATCH_DOSAGES])
        return GenerativeOutputs(log_lik)

    def loss(self, batch: dict[str, Tensor], n_particles: int,
             inference: InferenceOutputs | None = None,
             generative: GenerativeOutputs | None = None) -> LossOutput:
        """The training objective of ``batch`` (inference and generative run when not
        given)."""
        if inference is None:
            inference = self.inference(batch, n_particles)
        if generative is None:
            generative = self.generative(inference, batch)
        return self.loss_fn(self, batch, inference, generative)

    def forward(self, batch: dict[str, Tensor], n_particles: int) -> LossOutput:
        return self.loss(batch, n_particles)

    # --- what users ask of a trained model ------------------------------------------
    def iwelbo(self, batch: dict[str, Tensor], n_particles: int) -> Tensor:
        """Importance-weighted ELBO of each cell of ``batch``, (B,)."""
        inference = self.inference(batch, n_particles)
        return self.loss_fn.iwelbo(self, batch, inference, self.generative(inference, batch))

    def observed_conditions(self, dosages: Tensor) -> Tensor | None:
        """Whether each dosage row (N, T) is a condition the model was anchored to in
        training, (N,) bool; None when the model keeps no list (no pseudobulk term)."""
        consistency = getattr(self.loss_fn, "consistency", None)
        return None if consistency is None else consistency.observed(dosages)

    def anchored_conditions(self) -> Tensor | None:
        """The dosage rows (K, T) of the conditions the model was anchored to in
        training; None when the model keeps no list (no pseudobulk term)."""
        consistency = getattr(self.loss_fn, "consistency", None)
        return None if consistency is None else consistency.dosages

    def prediction_globals(self, how: str) -> GlobalSample:
        """One particle of the globals for predictions: ``mean`` (posterior mean) or
        ``sample`` (a draw from the guide)."""
        if how not in ("mean", "sample"):
            raise ValueError(f"globals must be 'mean' or 'sample', not {how!r}")
        return self.guide.globals_for_prediction(how)

    def decode_conditions(self, globals_: GlobalSample, z_basal: Tensor,
                          dosages: Tensor) -> Tensor:
        """Gene proportions (C, B, G) of good-quality cells: every one of the C treatment
        rows ``dosages`` (C, T) applied to each of the B draws ``z_basal`` (1, B, L)."""
        offsets = dosage_rows(dosages, globals_.masked_edges)[0][:, None, :]    # (C, 1, T)
        return self._decode(globals_, z_basal, offsets, dosages, conditions=True)

    def decode_cells(self, globals_: GlobalSample, z_basal: Tensor,
                     dosages: Tensor) -> Tensor:
        """Gene proportions (1, B, G) of B good-quality cells, cell b decoded from
        ``z_basal[:, b]`` under its own treatments ``dosages[b]``."""
        return self._decode(globals_, z_basal, dosage_rows(dosages, globals_.masked_edges),
                            dosages)

    def _decode(self, globals_: GlobalSample, z_basal: Tensor, offsets: Tensor,
                dosages: Tensor, conditions: bool = False) -> Tensor:
        qc = z_basal.new_zeros(z_basal.shape[-2])
        return self.model.expression_proportions(z_basal, offsets, globals_.qc_effect, qc,
                                                 dosages, conditions)

    def latent_mean(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean of q(z_basal | x) of each cell, (B, L), with the globals at their
        posterior mean (a mean-field encoder does not use them)."""
        return self.inference(batch, 1, self.guide.expected_globals(), sample_z=False).z_mean[0]

    @torch.no_grad()
    def grn(self, n_samples: int = 32, chunk: int = 8) -> tuple[Tensor, Tensor]:
        """q(M) probabilities and mean edge weights (T, T; row = regulator, column =
        target, in treatment order); the weights average the guide's
        q(E | M) means over ``n_samples`` draws of M, given the edge is present (the
        unconditional mean where no draw has it). Seed torch for reproducible weights."""
        guide = self.guide
        probs = guide.mask_probabilities()
        total, present, unconditional = (torch.zeros_like(probs) for _ in range(3))
        for start in range(0, n_samples, chunk):
            sample = guide.sample_globals(min(chunk, n_samples - start))
            mask = sample.mask.detach()
            total += (sample.edge_mean * mask).sum(0)
            present += mask.sum(0)
            unconditional += sample.edge_mean.sum(0)
        mean = torch.where(present > 0, total / present.clamp_min(1), unconditional / n_samples)
        return probs, mean
