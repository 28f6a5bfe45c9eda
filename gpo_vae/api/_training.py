"""Training a :class:`~gpo_vae.api.GpoVae` and reading its curves back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from gpo_vae.config import config_from_dict, section_settings
from gpo_vae.errors import InputDataError

_TRAINING_SECTIONS = ("training", "logging")

#: The model class the mixin is part of (methods return ``self``, or a new one): a type
#: variable rather than an import of it, which would tie the two modules in a circle.
Model = TypeVar("Model")


class TrainingMixin:
    """``train`` and ``plot_training_curves``."""

    def train(self: Model, max_epochs: int | None = None, *, accelerator: str | None = None,
              run_dir: str | os.PathLike | None = None, force: bool = False,
              **settings) -> Model:
        """Fit the model; afterwards it holds the weights of the best validation epoch.

        Parameters
        ----------
        max_epochs
            Passes over the training cells (default: the config's).
        accelerator
            ``auto``, ``cpu`` or ``gpu``.
        run_dir
            Write the run folder here (checkpoints, logs, plots; what ``gpo-vae train``
            writes and :meth:`load` reads). Default: a temporary folder, removed after.
            A folder holding files gpo-vae did not write is refused unless ``force``.
        **settings
            Training settings by name: ``lr``, ``n_particles``, ``max_steps``, ``seed``,
            ``batch_size`` (data), ``wandb`` (logging), ...

        Returns
        -------
        GpoVae
            ``self``, so calls chain.
        """
        from gpo_vae.evaluation.diagnostics import diagnostics_callback
        from gpo_vae.outputs import check_output_folder
        from gpo_vae.training.curves import per_epoch
        from gpo_vae.training.train import fit_best

        if self.adata is None:
            raise InputDataError("this model has no data to train on; create it with "
                                 "GpoVae(prepared) or load it with GpoVae.load(run, adata)")
        values = self.config.to_dict()
        given = dict(settings)
        if max_epochs is not None:
            given["max_epochs"] = max_epochs
        if accelerator is not None:
            given["accelerator"] = accelerator
        if "batch_size" in given:
            values["data"]["batch_size"] = given.pop("batch_size")
        for section, entries in section_settings(given, _TRAINING_SECTIONS).items():
            values[section].update(entries)
        self.config = config_from_dict(values)
        if run_dir is not None:
            check_output_folder(run_dir, "run", run_dir, what="run_dir", force=force)
        self.module, self._training_log = fit_best(
            self.config, self.adata, module=None if self._untrained else self.module,
            run_dir=run_dir, diagnostics=diagnostics_callback)
        self._untrained = False
        self.history = per_epoch(self._training_log)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        return self

    def plot_training_curves(self):
        """Losses, validation loss and IWELBO over training (and the learning
        diagnostics, when logged): a matplotlib Figure read from the run folder's logs
        (``plots/training_curves.png``), or None when there are none: before training, or
        for a model loaded from a folder written by :meth:`save` (which keeps no logs)."""
        from gpo_vae.training.curves import read_log, training_curves_figure

        log = self._training_log
        if log is None and self.run_dir is not None:
            log = read_log(self.run_dir)
        return None if log is None else training_curves_figure(log)

