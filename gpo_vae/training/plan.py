"""A generic Lightning training plan: Adam on any module whose ``loss(batch, n_particles)``
returns a :class:`~gpo_vae.models.loss.LossOutput` (scvi-tools' TrainingPlan idea: the
plan knows optimisation and logging, the module knows the model)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn

from gpo_vae.constants import BATCH_COUNTS
from gpo_vae.errors import GpoVaeError


class NonFiniteLossError(GpoVaeError):
    """A loss term became NaN or infinite during training."""


def upgrade_state_dict(state: dict) -> dict:
    """Checkpoints written before the module existed keyed the parts as ``model.``,
    ``guide.`` and ``loss_fn.``; today they sit under ``module.``."""
    if not any(key.startswith("module.") for key in state):
        state = {f"module.{key}": value for key, value in state.items()}
    prefix = "module.loss_fn.consistency."
    if prefix + "valid" in state:
        # before conditions, the pseudobulk term stored one shift per treatment row and
        # which rows had cells: those rows become single-treatment conditions
        state = dict(state)
        valid = state.pop(prefix + "valid")
        shifts = state[prefix + "shifts"][valid]
        state[prefix + "shifts"] = shifts
        state[prefix + "dosages"] = torch.eye(valid.numel())[valid]
        state[prefix + "reliability"] = torch.ones_like(shifts)
    return state


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """A 63-bit seed for ``step`` of a run seeded ``seed`` (``stream`` 1: validation)."""
    state = np.random.SeedSequence([seed % 2**32, step, stream]).generate_state(1, np.uint64)
    return int(state[0]) % 2**63


class TrainingPlan(L.LightningModule):
    """Train ``module`` with Adam and log every scalar of its loss.

    Parameters
    ----------
    module
        A module with ``loss(batch, n_particles) -> LossOutput``.
    lr
        Adam's learning rate.
    n_particles
        Monte Carlo particles per step.
    lr_overrides
        Learning rates of single parameters by name (e.g. ``{"guide.mask_logits": 0.1}``).
    hparams
        Stored in the checkpoint's ``hyper_parameters`` (what rebuilds the module).
    seed
        Seeds each step's random stream together with the step number.
    compile
        Run the module's loss through ``torch.compile`` (compiled on the first step, so a
        plan sent to spawned processes pickles plainly).
    """

    def __init__(self, module: nn.Module, *, lr: float, n_particles: int = 1,
                 lr_overrides: dict[str, float] | None = None, hparams: dict | None = None,
                 compile: bool = False, seed: int = 0):
        super().__init__()
        self.seed = int(seed)
        self.module = module
        self.lr, self.n_particles = lr, n_particles
        self.compile_loss = compile
        self._compiled_loss = None
        self.lr_overrides = dict(lr_overrides or {})
        if hparams:
            self.save_hyperparameters(hparams)

    def _loss(self):
        if not self.compile_loss:
            return self.module.loss
        if self._compiled_loss is None:
            self._compiled_loss = torch.compile(self.module.loss)
        return self._compiled_loss

    def _step(self, batch: dict, stage: str) -> dict[str, torch.Tensor]:
        terms = self._loss()(batch, self.n_particles).scalars()
        # one check (one device sync) per step; the loop below only runs on failure
        if not bool(torch.isfinite(torch.stack(list(terms.values()))).all()):
            name, value = next((k, v) for k, v in terms.items() if not torch.isfinite(v))
            raise NonFiniteLossError(
                f"{stage} loss term {name!r} became {value.item()} at step "
                f"{self.global_step} (epoch {self.current_epoch}); the last good checkpoint "
                "is kept; check the input for NaN/Inf or lower training.lr, then resume=True")
        batch_size = batch[BATCH_COUNTS].shape[0]
        on_step = stage == "train"
        # under data parallelism the epoch means are averaged over the ranks, so the
        # validation loss that picks best.ckpt is that of all validation cells
        trainer = self._trainer
        sync = trainer is not None and trainer.world_size > 1
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in terms.items()},
                      on_step=on_step, on_epoch=True, batch_size=batch_size,
                      prog_bar=False, sync_dist=sync)
        self.log(f"{stage}_loss", terms["loss"].detach(), on_step=on_step, on_epoch=not on_step,
                 batch_size=batch_size, prog_bar=True, logger=False, sync_dist=sync)
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    # The random stream of every step is seeded from (seed, step): a resumed run draws the
    # same particles and noise as an uninterrupted one whatever happened in between
    # (iterator set-up, a validation pass, another process), and nothing random has to
    # travel with the checkpoint.
    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.seed, self.global_step))

    def on_validation_epoch_start(self) -> None:
        torch.manual_seed(step_seed(self.seed, self.global_step, stream=1))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"] = upgrade_state_dict(checkpoint["state_dict"])

    def configure_optimizers(self):
        named = dict(self.module.named_parameters())
        special = [{"params": [named[name]], "lr": lr}
                   for name, lr in self.lr_overrides.items() if lr]
        chosen = {id(group["params"][0]) for group in special}
        others = [p for p in named.values() if id(p) not in chosen]
        return torch.optim.Adam([{"params": others}, *special], lr=self.lr)
