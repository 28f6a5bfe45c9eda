"""The generative model (gpo_vae/models/generative.py): decoder shapes in both latent
modes, proportions, the negative-binomial likelihood and how the QC flag enters."""

from __future__ import annotations

import pytest
import torch

from gpo_vae.models.generative import CountDecoder, GpoVaeModel

G, T, L, P, B = 30, 8, 6, 3, 5


def _model(latent_mode: str = "concat", **kwargs) -> GpoVaeModel:
    torch.manual_seed(0)
    n_latent = T if latent_mode == "sum" else L
    return GpoVaeModel(G, T, n_latent, decoder_n_hidden=16, latent_mode=latent_mode,
                       **kwargs)


def _inputs(n_latent: int, qc=None, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(P, B, n_latent, generator=g)
    offset = torch.randn(P, B, T, generator=g)
    qc_effect = torch.randn(P, 1, n_latent, generator=g)
    qc = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0]) if qc is None else qc
    return z, offset, qc_effect, qc


@pytest.mark.parametrize("latent_mode", ["concat", "sum"])
def test_decoder_gives_particle_cell_gene_logits_in_both_modes(latent_mode):
    model = _model(latent_mode)
    z, offset, qc_effect, qc = _inputs(model.n_latent)
    logits = model.decoder(z, offset, qc_effect, qc)
    assert logits.shape == (P, B, G)
    assert torch.isfinite(logits).all()
    expected_blocks = {"basal": L, "treatment": T, "qc": L} if latent_mode == "concat" \
        else {"latent": T}
    assert model.decoder.first.block_sizes == expected_blocks
    assert model.n_qc_latent == model.n_latent


def test_sum_mode_needs_as_many_latents_as_treatments():
    with pytest.raises(ValueError, match="n_latent == n_effects"):
        GpoVaeModel(G, T, L, latent_mode="sum")


def test_concat_decoder_equals_a_linear_layer_on_the_concatenated_latent():
    model = _model("concat")
    z, offset, qc_effect, qc = _inputs(L)
    first = model.decoder.first
    weight = torch.cat([first.weights["basal"], first.weights["treatment"],
                        first.weights["qc"]], dim=1)
    latent = torch.cat([z, offset, qc[:, None] * qc_effect.expand(P, B, L)], dim=-1)
    pre = latent @ weight.T + first.bias
    expected = model.decoder.out(model.decoder.hidden(pre))
    torch.testing.assert_close(model.decoder(z, offset, qc_effect, qc), expected)


@pytest.mark.parametrize("latent_mode", ["concat", "sum"])
def test_proportions_are_positive_and_sum_to_one_per_cell(latent_mode):
    model = _model(latent_mode)
    props = model.expression_proportions(*_inputs(model.n_latent))
    assert props.shape == (P, B, G) and (props > 0).all()
    torch.testing.assert_close(props.sum(-1), torch.ones(P, B))


def test_log_likelihood_matches_torch_negative_binomial():
    model = _model()
    with torch.no_grad():
        model.raw_inverse_dispersion.copy_(torch.linspace(-1.0, 2.0, G))
    z, offset, qc_effect, qc = _inputs(L)
    counts = torch.poisson(torch.full((B, G), 3.0, dtype=torch.float32),
                           generator=torch.Generator().manual_seed(2))
    library = counts.sum(-1)
    ll = model.log_likelihood(counts, library, z, offset, qc_effect, qc)
    assert ll.shape == (P, B) and torch.isfinite(ll).all()
    theta = torch.nn.functional.softplus(torch.linspace(-1.0, 2.0, G)) + 1e-4
    torch.testing.assert_close(model.inverse_dispersion, theta)
    mean = library[:, None] * model.expression_proportions(z, offset, qc_effect, qc)
    nb = torch.distributions.NegativeBinomial(total_count=theta,
                                              logits=torch.log(mean) - torch.log(theta))
    torch.testing.assert_close(ll, nb.log_prob(counts).sum(-1), rtol=1e-4, atol=1e-3)


def test_counts_at_the_decoded_mean_are_likelier_than_shuffled_counts():
    model = _model()
    with torch.no_grad():  # proportions far from uniform, so the gene order matters
        model.decoder.out.bias.copy_(torch.linspace(-3.0, 3.0, G))
    z, offset, qc_effect, qc = _inputs(L)
    with torch.no_grad():
        props = model.expression_proportions(z, offset, qc_effect, qc)[0]     # (B, G)
        at_mean = torch.round(2000.0 * props)
        shuffled = at_mean[:, torch.randperm(G, generator=torch.Generator().manual_seed(0))]
        ll_mean = model.log_likelihood(at_mean, at_mean.sum(-1), z[:1], offset[:1],
                                       qc_effect[:1], qc)
        ll_shuffled = model.log_likelihood(shuffled, shuffled.sum(-1), z[:1], offset[:1],
                                           qc_effect[:1], qc)
    assert torch.isfinite(ll_mean).all() and torch.isfinite(ll_shuffled).all()
    assert (ll_mean > ll_shuffled + 10.0).all(), (ll_mean, ll_shuffled)


def test_an_empty_cell_is_decoded_with_library_size_one():
    model = _model()
    z, offset, qc_effect, qc = _inputs(L)
    counts = torch.zeros(B, G)
    empty = model.log_likelihood(counts, torch.zeros(B), z, offset, qc_effect, qc)
    one = model.log_likelihood(counts, torch.ones(B), z, offset, qc_effect, qc)
    assert torch.isfinite(empty).all()
    torch.testing.assert_close(empty, one)


def test_qc_flag_changes_the_concat_output_only_through_the_qc_block():
    model = _model("concat")
    z, offset, qc_effect, _ = _inputs(L)
    good, bad = torch.zeros(B), torch.ones(B)
    with torch.no_grad():
        decoder = model.decoder
        out_good = decoder(z, offset, qc_effect, good)
        out_bad = decoder(z, offset, qc_effect, bad)
        assert not torch.allclose(out_good, out_bad)
        # good cells ignore the QC effect entirely
        torch.testing.assert_close(decoder(z, offset, 5 * qc_effect, good), out_good)
        # without the qc block's weights the flag makes no difference
        decoder.first.weights["qc"].zero_()
        torch.testing.assert_close(decoder(z, offset, qc_effect, bad), out_good)


def test_qc_flag_in_sum_mode_adds_the_qc_effect_to_the_latent():
    model = _model("sum")
    z, offset, qc_effect, _ = _inputs(T)
    with torch.no_grad():
        shifted = model.decoder(z + qc_effect, offset, qc_effect, torch.zeros(B))
        torch.testing.assert_close(model.decoder(z, offset, qc_effect, torch.ones(B)),
                                   shifted)


def test_qc_gradients_reach_the_qc_block_only_from_low_quality_cells():
    decoder = CountDecoder(G, L, T, L, n_hidden=16, n_layers=1, latent_mode="concat")
    z, offset, qc_effect, _ = _inputs(L)
    decoder(z, offset, qc_effect, torch.zeros(B)).sum().backward()
    assert decoder.first.weights["qc"].grad.abs().sum() == 0
    assert decoder.first.weights["basal"].grad.abs().sum() > 0
    decoder.zero_grad()
    decoder(z, offset, qc_effect, torch.ones(B)).sum().backward()
    assert decoder.first.weights["qc"].grad.abs().sum() > 0
