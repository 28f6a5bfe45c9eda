"""Distributions the model needs, as plain functions on tensors.

torch.distributions would do, but it builds objects per call and its negative binomial
log-probability materialises a dozen particles x cells x genes temporaries; the
likelihood dominates a training step, so it has a hand-written gradient here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_LOG_2PI = math.log(2 * math.pi)


def normal_kl(mean: Tensor, scale: Tensor, prior_scale: float = 1.0) -> Tensor:
    """Elementwise KL(N(mean, scale^2) || N(0, prior_scale^2))."""
    var_ratio = (scale / prior_scale) ** 2
    return 0.5 * (var_ratio + (mean / prior_scale) ** 2 - 1.0 - torch.log(var_ratio))


def normal_log_prob(value: Tensor, mean: Tensor | float, scale: Tensor | float) -> Tensor:
    """Elementwise log N(value; mean, scale^2)."""
    scale_t = torch.as_tensor(scale, dtype=value.dtype, device=value.device)
    return -0.5 * ((value - mean) / scale_t) ** 2 - torch.log(scale_t) - 0.5 * _LOG_2PI


def normal_pair_kl(mean_q: Tensor, scale_q: Tensor, mean_p: Tensor, scale_p: Tensor) -> Tensor:
    """Elementwise KL(N(mean_q, scale_q^2) || N(mean_p, scale_p^2))."""
    var_ratio = (scale_q / scale_p) ** 2
    return 0.5 * (var_ratio + ((mean_q - mean_p) / scale_p) ** 2 - 1.0 - torch.log(var_ratio))


def bernoulli_kl_from_logits(logits: Tensor, prior_prob: float) -> Tensor:
    """Elementwise KL(Bernoulli(sigmoid(logits)) || Bernoulli(prior_prob))."""
    prob = torch.sigmoid(logits)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    return prob * (log_p - math.log(prior_prob)) + \
        (1 - prob) * (log_not_p - math.log1p(-prior_prob))


def relaxed_bernoulli_straight_through(logits: Tensor, n_samples: int,
                                       temperature: float = 1.0) -> Tensor:
    """``n_samples`` hard 0/1 draws of a relaxed Bernoulli whose gradient is the soft one.

    Gumbel-softmax for two classes is a logistic perturbation of the logits; the forward
    value is the rounded sample and the backward pass sees the relaxed sample
    (straight-through), so the mask logits receive gradients.
    """
    tiny = torch.finfo(logits.dtype).tiny
    u = torch.rand((n_samples, *logits.shape), dtype=logits.dtype, device=logits.device)
    u = u.clamp(tiny, 1 - 1e-7)
    soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + (soft - soft.detach())


class _NegativeBinomialParticleTerm(torch.autograd.Function):
    """Per (particle, cell): sum_g x log p - (theta + x) log(theta + l p), p = softmax(logits).

    This is the part of the NB log-likelihood that depends on the decoder output; the
    analytic backward saves only log p and recomputes the rest with in-place arithmetic.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, counts: Tensor, library: Tensor, theta: Tensor):
        log_p = torch.log_softmax(logits, dim=-1)
        log_theta_mu = torch.exp(log_p).mul_(library[:, None]).add_(theta).log_()
        out = (log_p * counts).sum(-1)
        out -= (log_theta_mu.mul_(theta + counts)).sum(-1)
        ctx.save_for_backward(log_p, counts, library, theta)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        log_p, counts, library, theta = ctx.saved_tensors
        prob = torch.exp(log_p)
        mu = prob * library[:, None]
        denom = mu + theta                                   # theta + mu
        theta_x = theta + counts
        grad_logits = grad_theta = None
        if ctx.needs_input_grad[3]:
            # d/dtheta = -log(theta + mu) - (theta + x) / (theta + mu)
            d_theta = torch.log(denom).add_(theta_x / denom).mul_(grad_out[..., None])
            grad_theta = -d_theta.sum(dim=tuple(range(d_theta.dim() - 1)))
            del d_theta
        if ctx.needs_input_grad[0]:
            # w_g = x_g - (theta + x_g) mu_g / (theta + mu_g); grad = w - p * sum(w)
            w = mu.div_(denom).mul_(theta_x).neg_().add_(counts)
            del denom
            total = w.sum(-1, keepdim=True)
            grad_logits = w.sub_(prob.mul_(total)).mul_(grad_out[..., None])
        return grad_logits, None, None, grad_theta


def _at_least_float32(tensor: Tensor) -> Tensor:
    """float16 / bfloat16 up to float32; float32 and float64 as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def negative_binomial_log_likelihood(logits: Tensor, counts: Tensor, library: Tensor,
                                     theta: Tensor) -> Tensor:
    """log NB(counts | mean = library * softmax(logits), inverse dispersion theta).

    ``logits`` is (particles, cells, genes), ``counts`` (cells, genes), ``library``
    (cells,) and ``theta`` (genes,). Returns (particles, cells), summed over genes. The
    terms that do not depend on the decoder output are computed once, not per particle.

    Always computed in float32, also under mixed precision (``training.precision``
    bf16-mixed or 16-mixed): lgamma of counts in the thousands and the log-sum-exp over
    genes lose too many digits in 16 bits.
    """
    with torch.autocast(device_type=logits.device.type, enabled=False):
        logits, counts, library, theta = (_at_least_float32(t)
                                          for t in (logits, counts, library, theta))
        per_particle = _NegativeBinomialParticleTerm.apply(logits, counts, library, theta)
        constant = (torch.lgamma(counts + theta) - torch.lgamma(theta)
                    - torch.lgamma(counts + 1)).sum(-1) + (theta * torch.log(theta)).sum() \
            + counts.sum(-1) * torch.log(library)
        return per_particle + constant
