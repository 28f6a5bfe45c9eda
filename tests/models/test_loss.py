import itertools

import numpy as np
import pytest
import torch
from tiny_model import N_GENES, N_TREATMENTS, random_batch, tiny_info

from gpo_vae.errors import ConfigError
from gpo_vae.models import LOSS_TERMS, build_gpo_vae
from gpo_vae.models.distributions import bernoulli_kl_from_logits, normal_kl
from gpo_vae.models.loss import GpoVaeLoss


@pytest.mark.parametrize("mask_mode,latent_mode,encoder", list(itertools.product(
    ["logits", "probs"], ["concat", "sum"], ["correlated", "mean_field"])))
def test_every_option_gives_finite_terms_and_gradients_to_the_mask(
        tiny_model_config, info, batch, mask_mode, latent_mode, encoder):
    n_latent = N_TREATMENTS if latent_mode == "sum" else 6
    config = tiny_model_config(model={"mask_mode": mask_mode, "latent_mode": latent_mode,
                                "n_latent": n_latent},
                         guide={"encoder": encoder, "mask_init": 0.4 if mask_mode == "probs"
                                else 0.0})
    module = build_gpo_vae(config, info)
    model = module.model
    guide = module.guide
    terms = module.loss(batch, 3).scalars()
    assert set(LOSS_TERMS) | {"loss", "elbo", "iwelbo"} <= set(terms)
    for name, value in terms.items():
        assert value.shape == () and torch.isfinite(value), name
    terms["loss"].backward()
    assert guide.mask_logits.grad is not None and guide.mask_logits.grad.abs().sum() > 0
    grads = [p.grad for p in list(model.parameters()) + list(guide.parameters())]
    assert all(g is not None for g in grads)


def test_shapes_of_the_generative_pieces(tiny_model_config, info, batch):
    module = build_gpo_vae(tiny_model_config(), info)
    model = module.model
    guide = module.guide
    sample = guide.sample_globals(4)
    assert sample.mask.shape == sample.edges.shape == (4, N_TREATMENTS, N_TREATMENTS)
    assert sample.qc_effect.shape == (4, 1, 6)
    z = torch.randn(4, 12, 6)
    offset = torch.randn(4, 12, N_TREATMENTS)
    props = model.expression_proportions(z, offset, sample.qc_effect, batch["qc"])
    assert props.shape == (4, 12, N_GENES)
    torch.testing.assert_close(props.sum(-1), torch.ones(4, 12))
    log_lik = model.log_likelihood(batch["counts"], batch["library_size"], z, offset,
                                   sample.qc_effect, batch["qc"])
    assert log_lik.shape == (4, 12) and (log_lik < 0).all()


def test_sum_mode_needs_latent_size_equal_to_treatments(tiny_model_config, info):
    with pytest.raises(ConfigError, match="n_latent=8"):
        build_gpo_vae(tiny_model_config(model={"latent_mode": "sum", "n_latent": 5}), info)


def test_qc_status_changes_only_the_qc_block_of_the_decoder(tiny_model_config, info):
    module = build_gpo_vae(tiny_model_config(), info)
    model = module.model
    guide = module.guide
    sample = guide.sample_globals(2)
    z, offset = torch.randn(2, 3, 6), torch.randn(2, 3, N_TREATMENTS)
    good = model.decoder(z, offset, sample.qc_effect, torch.zeros(3))
    bad = model.decoder(z, offset, sample.qc_effect, torch.ones(3))
    # the same decoder on the explicit concatenation concat(z, D(M*E), q E_qc)
    first = model.decoder.first
    weight = torch.cat([first.weights["basal"], first.weights["treatment"],
                        first.weights["qc"]], dim=1)
    for q, out in ((0.0, good), (1.0, bad)):
        latent = torch.cat([z, offset, q * sample.qc_effect.expand(2, 3, 6)], dim=-1)
        expected = model.decoder.out(model.decoder.hidden(latent @ weight.T + first.bias))
        torch.testing.assert_close(out, expected)
    assert not torch.allclose(good, bad)


def _full_data_dosages(per_treatment: list[int], n_controls: int) -> torch.Tensor:
    rows = []
    for t, n in enumerate(per_treatment):
        for _ in range(n):
            row = torch.zeros(len(per_treatment))
            row[t] = 1
            rows.append(row)
    rows += [torch.zeros(len(per_treatment))] * n_controls
    return torch.stack(rows)


def test_plated_weights_make_the_cell_average_the_full_data_kl(tiny_model_config):
    info = tiny_info()
    per_treatment = info.train_cells_per_treatment          # [20]*5 + [0]*3 -> 100 cells
    dosages = _full_data_dosages(per_treatment, n_controls=20)
    n_cells = dosages.shape[0]
    qc = torch.zeros(n_cells)
    qc[:30] = 1
    module = build_gpo_vae(tiny_model_config(), info)
    model = module.model
    guide = module.guide
    loss = GpoVaeLoss(np.array(per_treatment), np.array([n_cells - 30, 30]))
    with torch.no_grad():
        guide.mask_logits.normal_()
        sample = guide.sample_globals(3)
        per_cell = loss.plated_global_kl(guide, model, sample, dosages, qc)
        total = bernoulli_kl_from_logits(guide.mask_logits, model.mask_prior).sum() + \
            normal_kl(sample.edge_mean, sample.edge_scale).sum((1, 2)).mean() + \
            normal_kl(sample.qc_mean, sample.qc_scale).sum()
    torch.testing.assert_close(per_cell.mean(), total / n_cells)
    # a cell's share only counts its own treatment's rows: controls carry the least
    assert per_cell[-1] < per_cell[0]


def test_reconstruction_weights_follow_alpha():
    counts = np.array([20] * 5)
    balanced = GpoVaeLoss(counts, np.array([80, 20]))
    assert (balanced.good_weight, balanced.low_weight) == pytest.approx((0.2, 0.8))
    assert GpoVaeLoss(counts, np.array([80, 20]), alpha=0.5).good_weight == 0.5
    explicit = GpoVaeLoss(counts, np.array([80, 20]), alpha=1.0)   # drop low-quality cells
    assert (explicit.good_weight, explicit.low_weight) == (1.0, 0.0)
    only_good = GpoVaeLoss(counts, np.array([100, 0]))
    assert (only_good.good_weight, only_good.low_weight) == (1.0, 1.0)


def test_counterfactual_term_vanishes_without_counterfactuals_or_beta(tiny_model_config, info):
    module = build_gpo_vae(tiny_model_config(), info)
    batch = random_batch()
    assert module.loss(batch, 2).scalars()["counterfactual"] > 0
    batch["has_counterfactual"][:] = False
    assert module.loss(batch, 2).scalars()["counterfactual"] == 0
    no_beta = build_gpo_vae(tiny_model_config(loss={"beta": 0.0}), info)
    assert no_beta.loss(random_batch(), 2).scalars()["counterfactual"] == 0


def test_iwelbo_tightens_with_more_particles(tiny_model_config, info):
    module = build_gpo_vae(tiny_model_config(guide={"encoder": "mean_field"}), info)
    batch = random_batch(n_cells=40)
    with torch.no_grad():
        elbo = np.mean([module.loss(batch, 1).scalars()["elbo"].item() for _ in range(20)])
        iwelbo = np.mean([module.loss(batch, 50).scalars()["iwelbo"].item() for _ in range(5)])
    assert iwelbo > elbo
