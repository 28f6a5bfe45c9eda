"""The two model variants: the authors' four behaviours pinned, the anchored default's
pseudobulk term, and posterior-mean prediction."""

import numpy as np
import pytest
import torch
from tiny_model import N_GENES, N_PERTURBED, N_TREATMENTS, random_batch, tiny_info

from gpo_vae.data.pseudobulk import ConditionPseudobulk
from gpo_vae.models import build_gpo_vae
from gpo_vae.models.distributions import normal_pair_kl
from gpo_vae.models.nn import Residual


@pytest.fixture()
def build(tiny_model_config):
    """``build(variant, **sections)`` -> (config, GpoVaeModule) of a tiny model."""
    def make(variant: str, **sections):
        config = tiny_model_config(model={"variant": variant, **sections.pop("model", {})},
                                   **sections)
        return config, build_gpo_vae(config, tiny_info())
    return make


def test_variant_defaults_fill_only_the_settings_left_empty(build):
    anchored, _ = build("anchored")
    authors, _ = build("authors")
    assert (anchored.guide.encoder, anchored.loss.pseudobulk_coeff,
            anchored.model.predict_globals, anchored.model.ate_decoding) == \
        ("mean_field", 10.0, "mean", "expected")
    assert (authors.guide.encoder, authors.loss.pseudobulk_coeff,
            authors.model.predict_globals, authors.model.ate_decoding) == \
        ("correlated", 0.0, "sample", "sampled")
    chosen, _ = build("authors", guide={"encoder": "mean_field"})
    assert chosen.guide.encoder == "mean_field"


@pytest.mark.parametrize("variant,reduce", [("authors", torch.sum), ("anchored", torch.mean)])
def test_counterfactual_kl_is_summed_over_cells_by_the_authors_and_averaged_by_us(
        build, variant, reduce):
    # a mean-field encoder ignores the offsets, so the per-cell KL is deterministic
    _, module = build(variant, guide={"encoder": "mean_field"},
                      loss={"beta": 0.5, "pseudobulk_coeff": 0})
    guide = module.guide
    batch = random_batch()
    terms = module.loss(batch, 2).scalars()
    enc, has = guide.basal_encoder, batch["has_counterfactual"]
    cf_mean, cf_scale = enc(enc.expression_features(batch["counterfactual"][has]))
    own_mean, own_scale = enc(enc.expression_features(batch["counts"][has]))
    per_cell = torch.zeros(has.shape[0])
    per_cell[has] = normal_pair_kl(cf_mean, cf_scale, own_mean, own_scale).sum(-1)
    torch.testing.assert_close(terms["counterfactual"], 0.5 * reduce(per_cell))


def test_authors_decoder_has_one_more_hidden_layer_with_a_skip_connection(build):
    _, module = build("authors", model={"decoder_n_layers": 1})
    authors = module.model
    _, module = build("anchored", model={"decoder_n_layers": 1})
    ours = module.model
    assert not any(isinstance(m, torch.nn.Linear) for m in ours.decoder.hidden.modules())
    residuals = [m for m in authors.decoder.hidden if isinstance(m, Residual)]
    assert len(residuals) == 1
    # the block computes h + LeakyReLU(W h + b)
    h = torch.randn(3, 16)
    linear = residuals[0].inner[0]
    expected = h + torch.nn.functional.leaky_relu(linear(h))
    torch.testing.assert_close(residuals[0](h), expected)


@pytest.mark.parametrize("variant,zero", [("authors", True), ("anchored", False)])
def test_rows_no_training_cell_uses_carry_zero_kl_weight_only_for_the_authors(build, variant,
                                                                             zero):
    _, module = build(variant)
    model = module.model
    guide = module.guide
    loss = module.loss_fn
    sample = guide.sample_globals(2)
    control_good_cell = torch.zeros(1, N_TREATMENTS)
    with torch.no_grad():
        kl = loss.plated_global_kl(guide, model, sample, control_good_cell, torch.zeros(1))
    assert (float(kl) == 0.0) == zero
    assert float(kl) >= 0


@pytest.mark.parametrize("variant,draws", [("authors", 2), ("anchored", 1)])
def test_the_authors_counterfactual_pass_draws_the_globals_again(build, variant, draws,
                                                                monkeypatch):
    _, module = build(variant, guide={"encoder": "correlated"})
    guide = module.guide
    calls = []
    original = guide.sample_globals
    monkeypatch.setattr(guide, "sample_globals", lambda n: calls.append(n) or original(n))
    module.loss(random_batch(), 3).scalars()
    assert calls == [3] * draws


def test_posterior_mean_globals_equal_sampling_when_the_variance_vanishes(build):
    _, module = build("anchored")
    guide = module.guide
    with torch.no_grad():
        guide.mask_logits.copy_(torch.where(torch.rand(N_TREATMENTS, N_TREATMENTS) < 0.3,
                                            40.0, -40.0))
        out = guide.edge_encoder.out
        out.bias[N_TREATMENTS:] = -60.0          # scale -> its floor, 1e-4
        out.weight[N_TREATMENTS:] = 0.0
    mean = guide.expected_globals()
    for _ in range(3):
        sample = guide.sample_globals(1)
        torch.testing.assert_close(sample.mask, mean.mask)
        torch.testing.assert_close(sample.masked_edges, mean.masked_edges, atol=1e-3, rtol=0)
    assert mean.masked_edges.shape == (1, N_TREATMENTS, N_TREATMENTS)


def _conditions(n_singles: int = N_PERTURBED) -> ConditionPseudobulk:
    """Singles 0..n_singles-1 and the double 0+1 of ``random_batch``: random shifts, the
    double's the sum of its singles'."""
    dosages = np.zeros((n_singles + 1, N_TREATMENTS), np.float32)
    dosages[np.arange(n_singles), np.arange(n_singles)] = 1.0
    dosages[n_singles, [0, 1]] = 1.0
    means = np.random.default_rng(0).normal(0, 0.5, (n_singles + 1, N_GENES)).astype(np.float32)
    means[n_singles] = means[0] + means[1]     # an additive double
    return ConditionPseudobulk(dosages=dosages, means=means,
                               n_cells=np.full(n_singles + 1, 10),
                               control_mean=np.zeros(N_GENES, np.float32), n_control=50,
                               within_var=np.full(N_GENES, 0.1, np.float32))


@pytest.mark.parametrize("features", ["none", "pca"])
def test_pseudobulk_term_trains_the_decoded_shifts_towards_the_training_targets(build,
                                                                               features):
    batch = random_batch()
    config, _ = build("anchored", model={"gene_features": features})
    pseudobulk = _conditions()
    gene_features = np.random.default_rng(1).normal(size=(N_TREATMENTS, 3)) \
        if features == "pca" else None
    module = build_gpo_vae(config, tiny_info(), pseudobulk=pseudobulk,
                           gene_features=gene_features)
    model = module.model
    guide = module.guide
    term = module.loss_fn.consistency
    rows = term.batch_conditions(batch["dosages"])
    # every condition of the batch anchors, the double 0+1 included
    assert sorted(rows.tolist()) == list(range(N_PERTURBED + 1))
    params = list(model.parameters()) + list(guide.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-2)
    values = []
    for _ in range(200):
        sample = guide.sample_globals(1)
        z = torch.randn(1, batch["counts"].shape[0], 6)
        value = term(model, sample, z, batch["dosages"])
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]
    # a control-only batch has no perturbation to anchor: the term is zero
    controls = torch.zeros_like(batch["dosages"])
    assert float(term(model, guide.sample_globals(1), z, controls)) == 0.0


def test_expected_mask_sampling_uses_the_probabilities_in_every_particle(build):
    config, _ = build("anchored", guide={"mask_sampling": "expected"})
    module = build_gpo_vae(config, tiny_info())
    guide = module.guide
    sample = guide.sample_globals(3)
    probs = guide.mask_probabilities()
    for particle in sample.mask:
        torch.testing.assert_close(particle, probs)
    terms = module.loss(random_batch(), 3).scalars()
    terms["loss"].backward()
    assert guide.mask_logits.grad.abs().sum() > 0


def test_sams_vae_has_treatment_embeddings_over_the_latent_and_no_grn(build):
    config, module = build("sams_vae")
    assert (config.model.latent_mode, config.loss.alignment, config.loss.penalty_coeff,
            config.loss.pseudobulk_coeff, config.guide.encoder) == \
        ("sum", "none", 0.0, 0.0, "correlated")
    L = config.model.n_latent
    assert module.guide.mask_logits.shape == (N_TREATMENTS, L)
    assert not module.has_grn
    terms = module.loss(random_batch(), 2).scalars()
    assert float(terms["alignment"]) == 0.0 and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert module.guide.mask_logits.grad.abs().sum() > 0


def test_sams_vae_refuses_a_grn_alignment_and_has_no_grn_to_export(build):
    from gpo_vae.errors import ConfigError
    from gpo_vae.models.grn import learned_grn

    with pytest.raises(ConfigError, match="loss.alignment=none"):
        build("sams_vae", loss={"alignment": "direct"})
    _, module = build("sams_vae")
    with pytest.raises(ConfigError, match="no GRN"):
        learned_grn(module)
    _, gpo = build("anchored")
    assert gpo.has_grn
