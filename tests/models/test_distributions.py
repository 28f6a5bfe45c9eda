import torch
from torch.distributions import Bernoulli, NegativeBinomial, Normal, kl_divergence

from gpo_vae.models.distributions import (
    bernoulli_kl_from_logits,
    negative_binomial_log_likelihood,
    normal_kl,
    normal_log_prob,
    normal_pair_kl,
    relaxed_bernoulli_straight_through,
)


def _nb_inputs():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 7, generator=g, dtype=torch.double, requires_grad=True)
    counts = torch.poisson(torch.rand(4, 7, generator=g, dtype=torch.double) * 6)
    library = counts.sum(1) + 1
    theta = (torch.rand(7, generator=g, dtype=torch.double) + 0.3).requires_grad_()
    return logits, counts, library, theta


def test_negative_binomial_matches_torch_distributions():
    logits, counts, library, theta = _nb_inputs()
    mean = library[:, None] * torch.softmax(logits, -1)
    expected = NegativeBinomial(total_count=theta, logits=torch.log(mean) - torch.log(theta)) \
        .log_prob(counts).sum(-1)
    got = negative_binomial_log_likelihood(logits, counts, library, theta)
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, expected)


def test_negative_binomial_hand_written_gradient_is_exact():
    logits, counts, library, theta = _nb_inputs()
    assert torch.autograd.gradcheck(
        lambda lo, th: negative_binomial_log_likelihood(lo, counts, library, th), (logits, theta))


def test_normal_helpers_match_torch():
    mean, scale = torch.randn(5), torch.rand(5) + 0.1
    torch.testing.assert_close(normal_kl(mean, scale, 2.0),
                               kl_divergence(Normal(mean, scale), Normal(0.0, 2.0)))
    other_mean, other_scale = torch.randn(5), torch.rand(5) + 0.1
    torch.testing.assert_close(
        normal_pair_kl(mean, scale, other_mean, other_scale),
        kl_divergence(Normal(mean, scale), Normal(other_mean, other_scale)))
    value = torch.randn(5)
    torch.testing.assert_close(normal_log_prob(value, mean, scale),
                               Normal(mean, scale).log_prob(value))


def test_bernoulli_kl_matches_torch():
    logits = torch.randn(6) * 3
    torch.testing.assert_close(bernoulli_kl_from_logits(logits, 0.3),
                               kl_divergence(Bernoulli(logits=logits), Bernoulli(probs=0.3)))


def test_straight_through_mask_is_hard_forward_and_soft_backward():
    logits = torch.tensor([[-3.0, 0.0], [1.0, 4.0]], requires_grad=True)
    torch.manual_seed(0)
    mask = relaxed_bernoulli_straight_through(logits, 4000)
    assert mask.shape == (4000, 2, 2)
    assert set(mask.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(mask.detach().mean(0), torch.sigmoid(logits.detach()),
                               atol=0.03, rtol=0)
    mask.sum().backward()
    assert (logits.grad > 0).all()
