"""The data module: batches with the documented keys, shapes and dtypes, one split each."""

from __future__ import annotations

import numpy as np
import torch

from gpo_vae.config import config_from_dict
from gpo_vae.data.datamodule import PerturbationDataModule
from gpo_vae.models.builder import DataInfo


def test_batches(tmp_path, small_screen_path):
    path = small_screen_path
    config = config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "simulated", "path": str(path), "batch_size": 128, "doublets": False}})
    dm = PerturbationDataModule(config)
    dm.prepare_data()
    dm.setup("fit")
    info = DataInfo.from_prepared(dm.adata)
    G, T = info.n_genes, info.n_treatments
    assert len(info.train_cells_per_treatment) == T
    assert info.n_train_cells == len(dm.datasets["train"])
    batches = list(dm.train_dataloader())
    assert sum(b["counts"].shape[0] for b in batches) == len(dm.datasets["train"])
    batch = batches[0]
    assert batch["counts"].shape == (128, G) and batch["counts"].dtype == torch.float32
    assert batch["dosages"].shape == (128, T) and batch["delta_x"].shape == (128, T)
    assert batch["counterfactual"].shape == (128, G)
    assert batch["qc"].shape == batch["library_size"].shape == (128,)
    assert batch["has_counterfactual"].dtype == torch.bool
    torch.testing.assert_close(batch["counts"].sum(dim=1), batch["library_size"])
    assert (batch["counterfactual"][~batch["has_counterfactual"]] == 0).all()
    # train batches are shuffled, seeded; val/test cover their split in order
    again = next(iter(dm.train_dataloader()))
    assert torch.equal(again["cell_index"], batch["cell_index"])
    val_index = torch.cat([b["cell_index"] for b in dm.val_dataloader()]).numpy()
    split = dm.adata.obs["split"].astype(str).to_numpy()
    assert (split[val_index] == "val").all() and (np.diff(val_index) > 0).all()
    test_index = torch.cat([b["cell_index"] for b in dm.test_dataloader()]).numpy()
    assert set(val_index).isdisjoint(test_index)


def test_the_training_loader_resumes_inside_the_epoch_it_was_saved_in(tmp_path,
                                                                     small_screen_path):
    """A loaded state leaves out the batches already served in that epoch only; the
    next epoch is whole again (the state Lightning saves in every checkpoint)."""
    config = config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "simulated", "path": str(small_screen_path), "batch_size": 64}})
    dm = PerturbationDataModule(config)
    dm.setup("fit")

    def epoch_batches(loader, epoch):
        loader.sampler.set_epoch(epoch)
        return [b["cell_index"] for b in loader]

    loader = dm.train_dataloader()
    full = epoch_batches(loader, 1)
    loader.sampler.set_epoch(1)
    served = iter(loader)
    for _ in range(3):
        next(served)
    state = loader.state_dict()
    assert state == {"epoch": 1, "batches_served": 3}
    fresh = dm.train_dataloader()
    fresh.load_state_dict(state)
    rest = epoch_batches(fresh, 1)
    assert len(rest) == len(full) - 3
    assert all(torch.equal(a, b) for a, b in zip(rest, full[3:], strict=True))
    assert fresh.state_dict()["batches_served"] == len(full)
    # a state from another epoch than the one iterated is ignored
    fresh.load_state_dict(state)
    assert len(epoch_batches(fresh, 2)) == len(full)
