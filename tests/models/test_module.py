"""GpoVaeModule: inference / generative / loss shapes, and that prediction, IWELBO and GRN
go through the same pieces."""

from __future__ import annotations

import pytest
import torch
from tiny_model import N_GENES, N_TREATMENTS, tiny_info

from gpo_vae.models import GpoVaeModule, LossOutput, build_gpo_vae
from gpo_vae.models.builder import DataInfo, build_for_prepared
from gpo_vae.models.loss import LOSS_TERMS


@pytest.fixture()
def make_module(tiny_model_config):
    def make(**sections) -> GpoVaeModule:
        return build_gpo_vae(tiny_model_config(**sections), tiny_info())
    return make


def test_inference_and_generative_shapes(batch, make_module):
    module = make_module()
    inference = module.inference(batch, n_particles=3)
    b = batch["counts"].shape[0]
    assert inference.z.shape == inference.z_mean.shape == (3, b, 6)
    assert inference.treatment_offset.shape == (3, b, N_TREATMENTS)
    assert (inference.z_scale > 0).all()
    generative = module.generative(inference, batch)
    assert generative.log_likelihood.shape == (3, b)
    assert torch.isfinite(generative.log_likelihood).all()
    # controls get no treatment offset
    control = batch["dosages"].sum(1) == 0
    assert torch.equal(inference.treatment_offset[:, control],
                       torch.zeros_like(inference.treatment_offset[:, control]))


def test_loss_output_holds_every_term_and_their_sum(batch, make_module):
    output = make_module().loss(batch, n_particles=2)
    assert isinstance(output, LossOutput)
    assert set(output.terms) == set(LOSS_TERMS)
    torch.testing.assert_close(output.loss, sum(output.terms.values()))
    assert output.per_cell_iwelbo.shape == (batch["counts"].shape[0],)
    assert set(output.scalars()) == set(LOSS_TERMS) | {"loss", "elbo", "iwelbo"}


def test_iwelbo_is_the_loss_iwelbo_under_the_same_random_numbers(batch, make_module):
    module = make_module()
    torch.manual_seed(5)
    from_loss = module.loss(batch, 4).per_cell_iwelbo
    torch.manual_seed(5)
    torch.testing.assert_close(module.iwelbo(batch, 4), from_loss)


def test_decoding_conditions_and_cells_agree(make_module):
    module = make_module()
    sample = module.prediction_globals("mean")
    z = torch.randn(1, 5, 6)
    dosages = torch.zeros(5, N_TREATMENTS)
    dosages[:, 2] = 1.0
    per_cell = module.decode_cells(sample, z, dosages)                       # (1, 5, G)
    per_condition = module.decode_conditions(sample, z, dosages[:1])         # (1, 5, G)
    assert per_cell.shape == per_condition.shape == (1, 5, N_GENES)
    torch.testing.assert_close(per_cell, per_condition)
    torch.testing.assert_close(per_cell.sum(-1), torch.ones(1, 5))


def test_latent_mean_draws_no_random_numbers(batch, make_module):
    module = make_module()
    state = torch.get_rng_state()
    first = module.latent_mean(batch)
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(module.latent_mean(batch), first)
    assert first.shape == (batch["counts"].shape[0], 6)


def test_grn_probabilities_are_the_mask_probabilities_and_weights_follow_the_guide(make_module):
    module = make_module()
    with torch.no_grad():
        module.guide.mask_logits.copy_(torch.linspace(-3, 3, N_TREATMENTS ** 2)
                                       .reshape(N_TREATMENTS, N_TREATMENTS))
    probs, weights = module.grn(n_samples=16)
    torch.testing.assert_close(probs, torch.sigmoid(module.guide.mask_logits))
    assert weights.shape == (N_TREATMENTS, N_TREATMENTS) and torch.isfinite(weights).all()


def test_prediction_globals_reject_an_unknown_mode(make_module):
    with pytest.raises(ValueError, match="mean"):
        make_module().prediction_globals("median")


def test_build_for_prepared_reads_sizes_and_statistics_from_the_data(small_prepared,
                                                                     tiny_model_config):
    config = tiny_model_config()
    module = build_for_prepared(config, small_prepared)
    info = DataInfo.from_prepared(small_prepared)
    # the anchored default adds the number of gene-feature columns it built
    n_features = module.data_info.extra["n_gene_features"]
    assert 0 < n_features <= 2 * config.model.gene_feature_components   # two PCA blocks
    info.extra["n_gene_features"] = n_features
    info.extra["n_conditions"] = module.loss_fn.consistency.n_conditions
    # and the number of co-expressed genes each own-gene shift spreads to
    own = module.model.own_effect
    assert own.n_downstream == min(config.model.downstream_genes, info.n_genes - 1)
    assert own.downstream_index.shape[0] == sum(info.treatment_measured)
    info.extra["n_downstream"] = own.n_downstream
    # and the width of the linear response's gene embedding (the cell PCA block)
    linear = module.model.linear_response
    assert linear.gene_embedding.shape == (info.n_genes, config.model.gene_feature_components)
    info.extra["n_linear"] = int(linear.gene_embedding.shape[1])
    assert module.data_info == info
    assert info.n_genes == small_prepared.n_vars
    assert info.n_train_cells == int((small_prepared.obs["split"] == "train").sum())
    assert info.control_label == "non-targeting"
    encoder = module.guide.basal_encoder
    torch.testing.assert_close(encoder.log1p_mean, torch.as_tensor(
        small_prepared.var["train_log1p_mean"].to_numpy(), dtype=torch.float32))
    # the anchored variant's pseudobulk targets come from the training cells
    assert module.loss_fn.consistency.shifts.abs().sum() > 0
