"""Thin Lightning module: wires the model, guide and loss to Adam and the logs."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from gpo_vae.config import Config, config_from_dict
from gpo_vae.errors import GpoVaeError
from gpo_vae.models.builder import DataInfo, build_gpo_vae


class NonFiniteLossError(GpoVaeError):
    """A loss term became NaN or infinite during training."""


class GpoVaeLightningModule(L.LightningModule):
    """GPO-VAE training. ``config`` and ``data_info`` are plain dicts so that a checkpoint
    carries everything needed to rebuild the model (``load_from_checkpoint``)."""

    def __init__(self, config: dict, data_info: dict,
                 log1p_mean: np.ndarray | None = None, log1p_std: np.ndarray | None = None,
                 pseudobulk: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__()
        # data statistics (the encoder's standardisation, the pseudobulk targets) are
        # buffers in the state dict, not hyperparameters
        self.save_hyperparameters(ignore=["log1p_mean", "log1p_std", "pseudobulk"])
        self.config: Config = config_from_dict(config)
        self.data_info = DataInfo(**data_info)
        self.model, self.guide, self.loss_fn = build_gpo_vae(
            self.config, self.data_info, log1p_mean, log1p_std, pseudobulk)

    @property
    def n_particles(self) -> int:
        return self.config.training.n_particles

    def _step(self, batch: dict, stage: str) -> dict[str, torch.Tensor]:
        terms = self.loss_fn(self.model, self.guide, batch, self.n_particles)
        # one check (one device sync) per step; the loop below only runs on failure
        if not bool(torch.isfinite(torch.stack(list(terms.values()))).all()):
            name, value = next((k, v) for k, v in terms.items() if not torch.isfinite(v))
            raise NonFiniteLossError(
                f"{stage} loss term {name!r} became {value.item()} at step "
                f"{self.global_step} (epoch {self.current_epoch}); the last good checkpoint "
                "is kept; check the input for NaN/Inf or lower training.lr, then --resume")
        batch_size = batch["counts"].shape[0]
        on_step = stage == "train"
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in terms.items()},
                      on_step=on_step, on_epoch=True, batch_size=batch_size,
                      prog_bar=False)
        self.log(f"{stage}_loss", terms["loss"].detach(), on_step=on_step, on_epoch=not on_step,
                 batch_size=batch_size, prog_bar=True, logger=False)
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    # Random state travels with the checkpoint, so a resumed run continues the same random
    # sequence (particles, Gumbel noise) as an uninterrupted one; Lightning saves none.
    # (tensors and plain numbers only, so weights-only loading accepts them)
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        _, keys, pos, has_gauss, gauss = np.random.get_state()
        checkpoint["rng_state"] = {
            "torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
            "numpy_rest": [int(pos), int(has_gauss), float(gauss)],
            "python": list(random.getstate()[1]), "python_version": random.getstate()[0]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("rng_state")
        if state:
            torch.set_rng_state(state["torch"])
            pos, has_gauss, gauss = state["numpy_rest"]
            np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32),
                                 int(pos), int(has_gauss), float(gauss)))
            random.setstate((state["python_version"], tuple(state["python"]), None))

    def configure_optimizers(self):
        # Adam moves each parameter by about lr per step, so the GRN logits can travel at
        # most lr x steps; training.mask_lr lets short runs move them further.
        training = self.config.training
        mask = self.guide.mask_logits
        others = [p for p in self.parameters() if p is not mask]
        return torch.optim.Adam([{"params": others},
                                 {"params": [mask], "lr": training.mask_lr or training.lr}],
                                lr=training.lr)
