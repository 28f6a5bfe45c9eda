"""loss.alignment=direct: q(M) aligned to direct-edge probabilities from training cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from tiny_model import N_TREATMENTS, random_batch, tiny_info

from gpo_vae.errors import ConfigError
from gpo_vae.evaluation.grn_truth import calibration, truth_block, truth_metrics
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
    assert np.all(np.diag(weight) == 0) and (weight[~np.eye(t, dtype=bool)] == 1).all()
    assert ((0 <= target) & (target <= 1)).all()
    # regulators without training cells (extra genes) get the base rate of the informed
    # pairs: the data says nothing about them, so no guess
    kinds = small_prepared.uns["treatments"]["kind"].to_numpy()
    base = target[kinds == "extra"][:, 0]
    assert np.allclose(target[kinds == "extra"], base[0]) and 0 < base[0] < 0.2
    informed = target[np.ix_(kinds == "perturbed", kinds == "perturbed")]
    assert informed.max() > 0.9 and informed.min() < base[0]
    perturbed = [n for n, k in zip(names, kinds, strict=True) if k == "perturbed"]
    truth = truth_block(small_prepared.uns, perturbed)
    scores = pd.DataFrame(target, index=names, columns=names).loc[perturbed, perturbed]
    metrics = truth_metrics(scores, truth)
    assert metrics["auprc"] > 3 * metrics["random_auprc"]
    # the default threshold and width are a logistic fit on the default preset; on this
    # other screen the probabilities still mean what they say, within a tolerance
    assert calibration(scores, truth)["ece"] < 0.1
    # held-out cells do not move the targets
    moved = small_prepared.copy()
    test = (moved.obs["split"] == "test").to_numpy()
    keep = (~test)[:, None].astype(np.float32)
    moved.X = sp.csr_matrix(moved.X.multiply(keep), dtype=np.float32)
    np.testing.assert_array_equal(direct_edge_targets(moved)[0], target)


def test_targets_of_a_backed_screen_match_in_memory_ones_a_block_at_a_time(
        small_prepared, tmp_path, monkeypatch):
    import anndata as ad

    import gpo_vae.data.rows as rows

    expected = direct_edge_targets(small_prepared)[0]
    small_prepared.write_h5ad(tmp_path / "prepared.h5ad")
    monkeypatch.setattr(rows, "BLOCK_ROWS", 100)       # several blocks of training cells
    backed = ad.read_h5ad(tmp_path / "prepared.h5ad", backed="r")
    np.testing.assert_allclose(direct_edge_targets(backed)[0], expected, atol=1e-5)


def test_the_module_carries_the_targets_and_the_term(small_prepared, tiny_model_config):
    config = tiny_model_config(loss={"alignment": "direct"})
    module = build_for_prepared(config, small_prepared)
    target, _ = direct_edge_targets(small_prepared)
    np.testing.assert_allclose(module.loss_fn.direct_target.numpy(), target)
    assert "loss_fn.direct_target" in module.state_dict()
    # q(M) starts at the targets (off the diagonal), so training need not travel there
    start = torch.sigmoid(module.guide.mask_logits.detach()).numpy()
    off = ~np.eye(len(target), dtype=bool)
    np.testing.assert_allclose(start[off], np.clip(target[off], 1e-4, 1 - 1e-4), rtol=1e-4)
    assert np.allclose(np.diag(start), 0.5)                  # guide.mask_init elsewhere
    # a module built without data has zero placeholders a checkpoint fills
    bare = build_gpo_vae(tiny_model_config(loss={"alignment": "direct"}), tiny_info())
    assert bare.loss_fn.direct_weight.shape == (N_TREATMENTS, N_TREATMENTS)
    terms = bare.loss(random_batch(), 2).scalars()
    assert torch.isfinite(terms["alignment"])
    with pytest.raises(ConfigError, match="direct_width"):
        tiny_model_config(loss={"direct_width": 0})


def _chain_screen(seed: int = 0, n: int = 300, n_other: int = 40):
    """Counts of a chain GA -> GB -> GC (log-scale weights 0.8 and -0.8), each gene knocked
    down in its own cells, with control cells and unrelated genes."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    labels = np.repeat(["non-targeting", "GA", "GB", "GC"], n)
    knock = {g: -1.5 * (labels == g) for g in ("GA", "GB", "GC")}
    a = 0.3 * rng.normal(size=labels.size) + knock["GA"]
    b = 0.8 * a + 0.3 * rng.normal(size=labels.size) + knock["GB"]
    c = -0.8 * b + 0.3 * rng.normal(size=labels.size) + knock["GC"]
    log_mu = np.tile(np.log(rng.uniform(2, 20, size=3 + n_other)), (labels.size, 1))
    log_mu[:, :3] += np.column_stack([a, b, c])
    counts = sp.csr_matrix(rng.poisson(np.exp(log_mu)).astype(np.float32))
    obs = pd.DataFrame({"gene": labels}, index=[f"cell{i}" for i in range(labels.size)])
    return ad.AnnData(counts, obs=obs, var=pd.DataFrame(
        index=["GA", "GB", "GC"] + [f"OTHER{i}" for i in range(n_other)]))


@pytest.mark.integration
def test_on_a_chain_the_learned_grn_ranks_direct_edges_above_the_two_step_path(tiny_settings):
    import gpo_vae as gv

    prepared = gv.prepare(_chain_screen(), perturbation_key="gene",
                          control_label="non-targeting")
    settings = tiny_settings()
    model = gv.GpoVae(prepared, {k: settings[k] for k in ("model", "guide")})
    assert model.config.loss.alignment == "direct"            # the anchored default
    model.train(max_epochs=3)
    grn = model.get_grn().set_index(["source", "target"])["probability"]
    assert min(grn["GA", "GB"], grn["GB", "GC"]) > grn["GA", "GC"] + 0.3
    # the mean shift alone ranks the path GA -> GC with the edges
    from gpo_vae.stats import perturbseq_transform
    from gpo_vae.stats.grn import mean_shift_scores

    expression = perturbseq_transform(prepared.X, prepared.obs["library_size"].to_numpy())
    shift = mean_shift_scores(expression, prepared.var["gene_symbol"].tolist(),
                              prepared.obs["perturbation"].astype(str).to_numpy(),
                              "non-targeting", ["GA", "GB", "GC"])
    assert shift.loc["GA", "GC"] > 0.5 * shift.loc["GB", "GC"]
