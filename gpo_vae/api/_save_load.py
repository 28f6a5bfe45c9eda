"""Run folders: save a :class:`~gpo_vae.api.GpoVae` and load one back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import anndata as ad

#: The model class the mixin is part of (methods return ``self``, or a new one): a type
#: variable rather than an import of it, which would tie the two modules in a circle.
Model = TypeVar("Model")


class SaveLoadMixin:
    """``save`` and ``load``."""

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write a run folder that ``gpo-vae evaluate`` / ``export-grn`` and :meth:`load`
        read: ``config.yaml``, ``checkpoints/best.ckpt`` (the current weights) and, with
        data, ``split.json``. Refuses a folder that already holds a trained run, and one
        holding files gpo-vae did not write unless ``force``."""
        from gpo_vae.training.run_folder import save_run_folder

        self.run_dir = save_run_folder(Path(path), self.module, self.config, self.adata,
                                       force=force)
        return self.run_dir

    @classmethod
    def load(cls: type[Model], path: str | os.PathLike,
             adata: ad.AnnData | None = None) -> Model:
        """A model from a run folder (``gpo-vae train``'s or :meth:`save`'s) or a
        checkpoint file; ``adata`` (the prepared data) is needed for training, latent
        representations of the training cells and evaluation."""
        from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint
        from gpo_vae.training.curves import per_epoch, read_log

        checkpoint = resolve_checkpoint(path)
        model = cls(adata, module=load_trained(checkpoint))
        in_run = checkpoint.parent.name == "checkpoints"
        model.history = per_epoch(read_log(checkpoint.parent.parent)) if in_run else None
        model.run_dir = checkpoint.parent.parent if in_run else checkpoint.parent
        return model
