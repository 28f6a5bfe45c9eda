"""The guide (gpo_vae/models/guide.py): shapes of the sampled globals, the hard mask,
the posterior-mean globals, mask_sampling='expected', the two basal encoders, gradients."""

from __future__ import annotations

import pytest
import torch

from gpo_vae.models.guide import GpoVaeGuide

G, T, L, P, B = 30, 8, 6, 4, 5


def _guide(**kwargs) -> GpoVaeGuide:
    torch.manual_seed(0)
    settings = dict(log1p_mean=torch.zeros(G), log1p_std=torch.ones(G),
                    basal_encoder_n_hidden=16, embedding_encoder_n_hidden=16,
                    embedding_encoder_n_layers=2)
    settings.update(kwargs)
    return GpoVaeGuide(G, T, L, L, **settings)


def test_sample_globals_shapes_and_positive_scales():
    sample = _guide().sample_globals(P)
    for name in ("mask", "edge_mean", "edge_scale", "edges"):
        assert getattr(sample, name).shape == (P, T, T), name
    assert sample.qc_mean.shape == sample.qc_scale.shape == (L,)
    assert sample.qc_effect.shape == (P, 1, L)
    assert (sample.edge_scale >= 1e-4).all() and (sample.qc_scale >= 1e-4).all()
    torch.testing.assert_close(sample.masked_edges, sample.mask * sample.edges)
    # E differs between particles: each particle draws its own noise
    assert not torch.allclose(sample.edges[0], sample.edges[1])


def test_hard_mask_is_zero_or_one_with_the_q_m_frequencies():
    logits = torch.linspace(-2.0, 2.0, T * T).reshape(T, T)
    guide = _guide(mask_init=logits)
    torch.testing.assert_close(guide.mask_probabilities(), torch.sigmoid(logits))
    mask = guide.sample_globals(4000).mask.detach()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    frequency = mask.mean(0)
    assert (frequency - torch.sigmoid(logits)).abs().max() < 0.04


def test_a_scalar_mask_init_fills_every_logit():
    guide = _guide(mask_init=1.5)
    assert guide.mask_logits.shape == (T, T)
    assert (guide.mask_logits == 1.5).all()


def test_expected_globals_are_the_q_m_probabilities_and_the_edge_mean():
    guide = _guide(mask_init=torch.randn(T, T, generator=torch.Generator().manual_seed(3)))
    mean = guide.expected_globals()
    probs = guide.mask_probabilities()
    torch.testing.assert_close(mean.mask, probs[None])
    edge_mean, edge_scale = guide.edge_encoder(probs[None])
    torch.testing.assert_close(mean.edge_mean, edge_mean)
    torch.testing.assert_close(mean.edge_scale, edge_scale)
    torch.testing.assert_close(mean.edges, mean.edge_mean)
    torch.testing.assert_close(mean.qc_effect, mean.qc_mean.expand(1, 1, L))
    torch.testing.assert_close(mean.masked_edges, probs[None] * edge_mean)
    assert mean.mask.shape == (1, T, T)
    again = guide.globals_for_prediction("mean")
    torch.testing.assert_close(again.masked_edges, mean.masked_edges)
    assert guide.globals_for_prediction("sample").mask.shape == (1, T, T)


def test_expected_mask_sampling_puts_the_probabilities_in_every_particle():
    guide = _guide(mask_sampling="expected", mask_init=0.7)
    sample = guide.sample_globals(P)
    expected = torch.sigmoid(torch.tensor(0.7)).expand(P, T, T)
    torch.testing.assert_close(sample.mask, expected)
    assert not torch.allclose(sample.edges[0], sample.edges[1])   # E still sampled


@pytest.mark.parametrize("mask_sampling", ["hard", "expected"])
def test_gradients_reach_the_mask_logits(mask_sampling):
    guide = _guide(mask_sampling=mask_sampling)
    sample = guide.sample_globals(P)
    (sample.masked_edges ** 2).sum().backward()
    grad = guide.mask_logits.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_mean_field_encoder_ignores_the_offsets_and_correlated_uses_them():
    counts = torch.poisson(torch.full((B, G), 2.0), generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    offsets = [(torch.randn(P, B, T, generator=g), torch.randn(P, B, L, generator=g))
               for _ in range(2)]
    mean_field = _guide(encoder="mean_field")
    assert not mean_field.correlated
    assert set(mean_field.basal_encoder.first.block_sizes) == {"expression"}
    enc = mean_field.basal_encoder
    features = enc.expression_features(counts)
    alone = enc(features)
    for treatment, qc in offsets:
        for got, want in zip(enc(features, treatment, qc), alone, strict=True):
            torch.testing.assert_close(got, want)
    correlated = _guide(encoder="correlated").basal_encoder
    features = correlated.expression_features(counts)
    first = correlated(features, *offsets[0])[0]
    second = correlated(features, *offsets[1])[0]
    assert first.shape == (P, B, L) and not torch.allclose(first, second)


def test_expression_features_standardise_log1p_counts():
    mean, std = torch.linspace(0, 1, G), torch.linspace(0.0, 2.0, G)
    enc = _guide(log1p_mean=mean, log1p_std=std, encoder="mean_field").basal_encoder
    assert enc.log1p_std.min() == pytest.approx(1e-3)     # a zero std is clamped
    counts = torch.arange(B * G, dtype=torch.float32).reshape(B, G) % 7
    standardised = (torch.log1p(counts) - mean) / std.clamp_min(1e-3)
    expected = standardised @ enc.first.weights["expression"].T + enc.first.bias
    torch.testing.assert_close(enc.expression_features(counts), expected)
    mean_z, scale_z = enc(enc.expression_features(counts))
    assert mean_z.shape == scale_z.shape == (B, L) and (scale_z > 0).all()
