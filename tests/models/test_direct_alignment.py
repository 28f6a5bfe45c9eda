"""loss.alignment=direct: q(M) aligned to direct-edge probabilities from training cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from tiny_model import N_TREATMENTS, random_batch, tiny_info

from gpo_vae.errors import ConfigError
from gpo_vae.evaluation.grn_truth import truth_block, truth_metrics
from gpo_vae.models import build_gpo_vae
from gpo_vae.models.alignment import direct_alignment_loss
from gpo_vae.models.builder import build_for_prepared, direct_edge_targets


def test_the_loss_ignores_unweighted_pairs_and_pulls_logits_to_the_targets():
    target = torch.tensor([[0.0, 0.9], [0.1, 0.0]])
    weight = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    logits = torch.zeros(2, 2, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        direct_alignment_loss(logits, target, weight).backward()
        optimizer.step()
    probs = torch.sigmoid(logits.detach())
    assert probs[0, 1] == pytest.approx(0.9, abs=0.02)
    assert probs[1, 0] == pytest.approx(0.1, abs=0.02)
    assert probs[0, 0] == pytest.approx(0.5) and probs[1, 1] == pytest.approx(0.5)


def test_targets_come_from_training_cells_and_rank_true_edges_high(small_prepared):
    target, weight = direct_edge_targets(small_prepared)
    names = small_prepared.uns["treatments"]["name"].tolist()
    t = len(names)
    assert target.shape == weight.shape == (t, t)
    assert np.all(np.diag(weight) == 0) and (target[weight == 0] == 0).all()
    assert ((0 <= target) & (target <= 1)).all()
    # regulators without training cells (extra genes) are not aligned
    kinds = small_prepared.uns["treatments"]["kind"].to_numpy()
    assert (weight[kinds == "extra"] == 0).all()
    perturbed = [n for n, k in zip(names, kinds, strict=True) if k == "perturbed"]
    truth = truth_block(small_prepared.uns, perturbed)
    scores = pd.DataFrame(target, index=names, columns=names).loc[perturbed, perturbed]
    metrics = truth_metrics(scores, truth)
    assert metrics["auprc"] > 3 * metrics["random_auprc"]
    # held-out cells do not move the targets
    moved = small_prepared.copy()
    test = (moved.obs["split"] == "test").to_numpy()
    keep = (~test)[:, None].astype(np.float32)
    moved.X = sp.csr_matrix(moved.X.multiply(keep), dtype=np.float32)
    np.testing.assert_array_equal(direct_edge_targets(moved)[0], target)


def test_the_module_carries_the_targets_and_the_term(small_prepared, tiny_model_config):
    config = tiny_model_config(loss={"alignment": "direct"})
    module = build_for_prepared(config, small_prepared)
    target, _ = direct_edge_targets(small_prepared)
    np.testing.assert_allclose(module.loss_fn.direct_target.numpy(), target)
    assert "loss_fn.direct_target" in module.state_dict()
    # a module built without data has zero placeholders a checkpoint fills
    bare = build_gpo_vae(tiny_model_config(loss={"alignment": "direct"}), tiny_info())
    assert bare.loss_fn.direct_weight.shape == (N_TREATMENTS, N_TREATMENTS)
    terms = bare.loss(random_batch(), 2).scalars()
    assert torch.isfinite(terms["alignment"])
    with pytest.raises(ConfigError, match="direct_width"):
        tiny_model_config(loss={"direct_width": 0})
