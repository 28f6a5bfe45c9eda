"""``training.compile``: the training plan's compiled loss gives the eager loss and
gradients (slow: compiling takes tens of seconds on a CPU)."""

from __future__ import annotations

import pytest
import torch

from gpo_vae.models.builder import build_gpo_vae
from gpo_vae.training.plan import TrainingPlan


@pytest.mark.slow
def test_compiled_loss_equals_eager(tiny_model_config, info, batch, monkeypatch):
    import torch._inductor.config as inductor

    # compiled graphs draw random numbers their own way unless told to use torch's
    monkeypatch.setattr(inductor, "fallback_random", True)
    module = build_gpo_vae(tiny_model_config(), info)
    eager_plan = TrainingPlan(module, lr=1e-3, n_particles=2)
    compiled_plan = TrainingPlan(module, lr=1e-3, n_particles=2, compile=True)
    assert compiled_plan._loss() is not module.loss
    results = []
    for plan in (eager_plan, compiled_plan):
        torch.manual_seed(3)
        module.zero_grad()
        loss = plan._loss()(batch, 2).loss
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in module.parameters()
                                         if p.grad is not None]))
    (eager, eager_grads), (compiled, compiled_grads) = results
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-3)
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_plan_without_compile_uses_the_module_loss(tiny_model_config, info):
    module = build_gpo_vae(tiny_model_config(), info)
    assert TrainingPlan(module, lr=1e-3)._loss() == module.loss
