"""The GPO-VAE training objective, minimised.

loss = mean over cells of [ - weighted reconstruction + KL(z_basal) + plated KL of the
global variables + beta * counterfactual KL ] + GRN alignment + sparsity.

Plated reweighting: the KL of row t of M and E enters each cell that received treatment
t with weight 1/(training cells with t), and the KL of E_qc each low-quality cell with
weight 1/(low-quality training cells), so the mini-batch mean estimates the full-data
ELBO divided by the number of cells. Rows no training cell uses (extra genes, unseen
perturbations) enter every cell with weight 1/N (the ``authors`` variant gives them weight
0, as the authors' code does).

The ``authors`` variant also sums the counterfactual KL over the batch's cells (their
code; an effective beta about batch-size times ours, which averages it) and draws the
globals again for the counterfactual pass. The ``anchored`` default adds the pseudobulk
consistency term (:mod:`gpo_vae.models.consistency`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from gpo_vae.models.alignment import direct_alignment_loss, grn_alignment_loss
from gpo_vae.models.distributions import (
    bernoulli_kl_from_logits,
    normal_kl,
    normal_log_prob,
    normal_pair_kl,
)
from gpo_vae.models.generative import GpoVaeModel
from gpo_vae.models.guide import GpoVaeGuide
from gpo_vae.models.latent import dosage_rows

LOSS_TERMS = ("reconstruction", "kl_basal", "kl_global", "counterfactual", "alignment",
              "sparsity", "pseudobulk")


@dataclass
class LossOutput:
    """The objective of one batch: its weighted terms (each of :data:`LOSS_TERMS`), their
    sum ``loss`` (minimised), the unweighted ``elbo`` per cell and each cell's IWELBO."""

    terms: dict[str, Tensor]
    loss: Tensor
    elbo: Tensor
    per_cell_iwelbo: Tensor

    def scalars(self) -> dict[str, Tensor]:
        """Every logged scalar: the terms, ``loss``, ``elbo`` and mean ``iwelbo``."""
        return {**self.terms, "loss": self.loss, "elbo": self.elbo,
                "iwelbo": self.per_cell_iwelbo.mean()}


class GpoVaeLoss(nn.Module):
    """Negative ELBO with plated reweighting, counterfactual, alignment and sparsity terms."""

    def __init__(self, train_cells_per_treatment: np.ndarray, train_cells_per_qc: np.ndarray,
                 *, beta: float = 0.1, alpha: float | None = None, hop: int = 5,
                 fc_criteria: float = 0.5, gloss_coeff: float = 100.0,
                 penalty_coeff: float = 10.0, mask_mode: str = "logits",
                 authors: bool = False, pseudobulk_coeff: float = 0.0,
                 consistency: nn.Module | None = None,
                 direct_targets: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__()
        # loss.alignment=direct: per-pair target probabilities and weights (T x T)
        self.direct = direct_targets is not None
        if self.direct:
            target, weight = (torch.as_tensor(np.asarray(a), dtype=torch.float32)
                              for a in direct_targets)
            self.register_buffer("direct_target", target)
            self.register_buffer("direct_weight", weight)
        self.authors = authors
        self.pseudobulk_coeff = pseudobulk_coeff
        self.consistency = consistency if pseudobulk_coeff > 0 else None
        per_treatment = torch.as_tensor(np.asarray(train_cells_per_treatment), dtype=torch.float32)
        per_qc = np.asarray(train_cells_per_qc, dtype=np.float64)  # [good, low quality]
        n_train = float(per_qc.sum())
        self.n_train = n_train
        used = per_treatment > 0
        self.register_buffer("treatment_weight",
                             torch.where(used, 1.0 / per_treatment.clamp_min(1), 0.0))
        # the authors' code gives rows no training cell uses no KL weight at all
        self.register_buffer("unused_treatments", (~used).float() * (0.0 if authors else 1.0))
        n_low = float(per_qc[1]) if per_qc.size > 1 else 0.0
        self.qc_weight = 1.0 / n_low if n_low > 0 else 0.0
        # alpha weighs good cells and 1 - alpha low-quality ones; by default alpha is the
        # low-quality fraction, and with only one kind of cell (alpha 0 or 1) that weighting
        # would zero every cell, so both weights are 1. An explicit alpha is used as given.
        if alpha is None:
            auto = n_low / n_train if n_train > 0 else 0.0
            self.good_weight, self.low_weight = (auto, 1 - auto) if 0 < auto < 1 else (1.0, 1.0)
        else:
            self.good_weight, self.low_weight = alpha, 1 - alpha
        self.beta, self.hop, self.fc_criteria = beta, hop, fc_criteria
        self.gloss_coeff, self.penalty_coeff, self.mask_mode = gloss_coeff, penalty_coeff, mask_mode

    def plated_global_kl(self, guide: GpoVaeGuide, model: GpoVaeModel, sample,
                         dosages: Tensor, qc: Tensor) -> Tensor:
        """Per-cell share of the KL of M, E and E_qc, (B,)."""
        kl_mask = bernoulli_kl_from_logits(guide.mask_logits, model.mask_prior).sum(1)
        kl_edges = normal_kl(sample.edge_mean, sample.edge_scale, model.prior_scale) \
            .sum(-1).mean(0)
        kl_rows = kl_mask + kl_edges                                          # (T,)
        per_cell = (dosages != 0).to(kl_rows.dtype) @ (kl_rows * self.treatment_weight)
        per_cell = per_cell + (kl_rows * self.unused_treatments).sum() / self.n_train
        kl_qc = normal_kl(sample.qc_mean, sample.qc_scale, model.prior_scale).sum()
        qc_share = qc * self.qc_weight if self.qc_weight > 0 else \
            torch.full_like(qc, 1.0 / self.n_train)
        return per_cell + kl_qc * qc_share

    def forward(self, module, batch: dict[str, Tensor], inference,
                generative) -> LossOutput:
        """The loss terms of one batch from the module's inference and generative
        outputs (:class:`gpo_vae.models.module.GpoVaeModule`)."""
        model, guide = module.model, module.guide
        dosages, qc = batch["dosages"], batch["qc"]
        sample, z = inference.globals_, inference.z
        z_mean, z_scale = inference.z_mean, inference.z_scale
        log_lik = generative.log_likelihood
        global_kl = self.plated_global_kl(guide, model, sample, dosages, qc)    # (B,)
        iwelbo = self._iwelbo(log_lik, z, z_mean, z_scale, global_kl)
        kl_basal = normal_kl(z_mean, z_scale).sum(-1).mean(0)                   # (B,)
        cell_weight = self.good_weight * (1 - qc) + self.low_weight * qc
        counterfactual = self._counterfactual_kl(guide.basal_encoder, batch,
                                                 inference.expression, guide, sample,
                                                 z.shape[0])
        terms = {
            "reconstruction": -(cell_weight * log_lik.mean(0)).mean(),
            "kl_basal": kl_basal.mean(),
            "kl_global": global_kl.mean(),
            "counterfactual": self.beta * (counterfactual.sum() if self.authors
                                           else counterfactual.mean()),
            "alignment": self._alignment(guide.mask_logits, batch),
            "sparsity": self.penalty_coeff * torch.sigmoid(guide.mask_logits).mean(),
            "pseudobulk": self.pseudobulk_coeff * self.consistency(model, sample, z, dosages)
            if self.consistency is not None else z.new_zeros(()),
        }
        with torch.no_grad():
            elbo = (log_lik.mean(0) - kl_basal - global_kl).mean()
        return LossOutput(terms, sum(terms[name] for name in LOSS_TERMS), elbo, iwelbo)

    def _alignment(self, mask_logits: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """The weighted GRN-alignment term (zero, not computed, at weight 0: loss.alignment
        none, or a model whose mask is no GRN)."""
        if self.gloss_coeff == 0:
            return mask_logits.new_zeros(())
        if self.direct:
            aligned = direct_alignment_loss(mask_logits, self.direct_target, self.direct_weight)
        else:
            aligned = grn_alignment_loss(batch["dosages"], batch["delta_x"], mask_logits,
                                         hop=self.hop, fc_criteria=self.fc_criteria,
                                         mask_mode=self.mask_mode)
        return self.gloss_coeff * aligned

    def iwelbo(self, module, batch: dict[str, Tensor], inference, generative) -> Tensor:
        """IWELBO of each cell, (B,), with as many importance samples as particles."""
        global_kl = self.plated_global_kl(module.guide, module.model, inference.globals_,
                                          batch["dosages"], batch["qc"])
        return self._iwelbo(generative.log_likelihood, inference.z, inference.z_mean,
                            inference.z_scale, global_kl)

    @staticmethod
    @torch.no_grad()
    def _iwelbo(log_lik: Tensor, z: Tensor, z_mean: Tensor, z_scale: Tensor,
                global_kl: Tensor) -> Tensor:
        log_weights = log_lik + (normal_log_prob(z, 0.0, 1.0)
                                 - normal_log_prob(z, z_mean, z_scale)).sum(-1)
        return torch.logsumexp(log_weights, 0) - math.log(z.shape[0]) - global_kl

    def _counterfactual_kl(self, encoder, batch, expression, guide, sample,
                           n_particles: int) -> Tensor:
        """KL between q(z_basal) of the counterfactual profile and the cell's own posterior,
        both computed with the flipped QC offset; zero for cells without one, (B,). The
        authors' variant draws the globals again for this pass."""
        has = batch["has_counterfactual"]
        out = expression.new_zeros(has.shape[0])
        if self.beta == 0 or not bool(has.any()):
            return out
        offset = qc_offset = None
        if encoder.correlated:  # a mean-field encoder does not see the offsets
            if self.authors:
                sample = guide.sample_globals(n_particles)
            offset = dosage_rows(batch["dosages"][has], sample.masked_edges)
            qc_offset = (1 - batch["qc"][has])[:, None] * sample.qc_effect
        cf_mean, cf_scale = encoder(encoder.expression_features(batch["counterfactual"][has]),
                                    offset, qc_offset)
        own_mean, own_scale = encoder(expression[has], offset, qc_offset)
        kl = normal_pair_kl(cf_mean, cf_scale, own_mean, own_scale).sum(-1)
        if kl.dim() == 2:  # (P, cells) with a correlated encoder
            kl = kl.mean(0)
        return out.index_put((has.nonzero(as_tuple=True)[0],), kl.to(out.dtype))
