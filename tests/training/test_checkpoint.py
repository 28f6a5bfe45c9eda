"""Checkpoint code: find, save, load (also checkpoints written before the module existed)
and refuse corrupt files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from tiny_model import random_batch, tiny_info  # noqa: E402

from gpo_vae.errors import InputFileError  # noqa: E402
from gpo_vae.models import build_gpo_vae  # noqa: E402
from gpo_vae.training.checkpoint import (  # noqa: E402
    BEST,
    LAST,
    load_checkpoint_dict,
    load_trained,
    resolve_checkpoint,
    save_module_checkpoint,
)
from gpo_vae.training.plan import upgrade_state_dict  # noqa: E402


@pytest.fixture()
def module(tiny_config):
    torch.manual_seed(0)
    return build_gpo_vae(tiny_config(model={"n_latent": 6}), tiny_info())


def test_save_and_load_round_trip_identical_outputs(module, tmp_path):
    path = save_module_checkpoint(module, tmp_path / "m.ckpt")
    loaded = load_trained(path)
    assert not loaded.training
    for (name, a), (_, b) in zip(module.state_dict().items(), loaded.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    batch = random_batch()
    outputs = []
    for m in (module.eval(), loaded):
        torch.manual_seed(1)
        with torch.no_grad():
            outputs.append(m.loss(batch, 2).loss)
    assert torch.equal(*outputs)
    assert loaded.data_info == module.data_info


def test_checkpoints_from_before_the_module_load(module, tmp_path):
    old = {"state_dict": {k: v for k, v in module.state_dict().items()},   # model./guide./...
           "hyper_parameters": {"config": module.config.to_dict(),
                                "data_info": module.data_info.to_dict()}}
    torch.save(old, tmp_path / "old.ckpt")
    loaded = load_trained(tmp_path / "old.ckpt")
    assert torch.equal(loaded.guide.mask_logits, module.guide.mask_logits)
    assert all(k.startswith("module.") for k in upgrade_state_dict(old["state_dict"]))
    current = {"module.model.x": 1}
    assert upgrade_state_dict(current) == current


def test_a_run_folder_resolves_to_best_then_last(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    with pytest.raises(InputFileError, match="holds no checkpoints"):
        resolve_checkpoint(tmp_path / "run")
    (folder / LAST).write_bytes(b"x")
    assert resolve_checkpoint(tmp_path / "run") == folder / LAST
    (folder / BEST).write_bytes(b"x")
    assert resolve_checkpoint(tmp_path / "run") == folder / BEST
    with pytest.raises(InputFileError, match="not found"):
        resolve_checkpoint(tmp_path / "missing.ckpt")


def test_corrupt_and_foreign_checkpoints_are_one_line_errors(tmp_path, module):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    # the unpickler's reason, not torch's weights_only advice cut mid-word ("... fr)")
    with pytest.raises(InputFileError, match=r"corrupt or not a gpo-vae checkpoint "
                                             r"\(Unsupported operand \d+\); use another"):
        load_checkpoint_dict(tmp_path / "bad.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(InputFileError, match="corrupt or not a gpo-vae checkpoint"):
        load_trained(tmp_path / "foreign.ckpt")
    path = save_module_checkpoint(module, tmp_path / "ok.ckpt")
    saved = load_checkpoint_dict(path)
    saved["state_dict"].pop(next(iter(saved["state_dict"])))
    torch.save(saved, tmp_path / "missing_weights.ckpt")
    with pytest.raises(InputFileError, match="corrupt"):
        load_trained(tmp_path / "missing_weights.ckpt")


def test_checkpoints_from_before_loss_alignment_load_with_the_authors_alignment(tiny_config,
                                                                                tmp_path):
    torch.manual_seed(0)
    old_module = build_gpo_vae(tiny_config(loss={"alignment": "authors"}), tiny_info())
    config = old_module.config.to_dict()
    del config["loss"]["alignment"]            # the setting did not exist when it was saved
    torch.save({"state_dict": {f"module.{k}": v for k, v in old_module.state_dict().items()},
                "hyper_parameters": {"config": config,
                                     "data_info": old_module.data_info.to_dict()}},
               tmp_path / "old.ckpt")
    loaded = load_trained(tmp_path / "old.ckpt")
    assert loaded.config.loss.alignment == "authors"
    assert not loaded.loss_fn.direct


def test_checkpoints_from_before_the_linear_response_load_as_they_were_trained(tiny_config,
                                                                               tmp_path):
    torch.manual_seed(0)
    settings = {"variant": "anchored", "gene_features": "pca", "linear_response": False,
                "downstream_genes": 0}
    old_module = build_gpo_vae(tiny_config(model=settings), tiny_info())
    config = old_module.config.to_dict()
    del config["model"]["linear_response"], config["model"]["downstream_genes"]  # not yet
    del config["loss"]["knockdown_shrinkage"]
    torch.save({"state_dict": {f"module.{k}": v for k, v in old_module.state_dict().items()},
                "hyper_parameters": {"config": config,
                                     "data_info": old_module.data_info.to_dict()}},
               tmp_path / "old.ckpt")
    loaded = load_trained(tmp_path / "old.ckpt")      # the latent feature map, no new pieces
    assert not loaded.config.model.linear_response
    assert not loaded.config.loss.knockdown_shrinkage    # its targets were the raw shifts
    assert loaded.guide.feature_effects is not None and loaded.model.linear_response is None
