"""Fitting a module and the run folders it leaves (Lightning underneath).

:func:`~gpo_vae.training.train.train` runs ``gpo-vae train`` (a run folder, exact resume
after interruptions); :func:`~gpo_vae.training.train.fit_best` fits in memory and keeps
the best checkpoint's weights (``GpoVae.train``, bootstrap stability). The pieces:
``plan`` (the generic Lightning plan), ``callbacks`` and ``trainer`` (how a Trainer is
built), ``checkpoint`` and ``run_folder`` (files), ``curves`` (logged metrics as tables
and figures), ``interrupt`` (signals become a saved state). Nothing here scores a model:
the caller passes the learning diagnostics.

Submodules are imported where used, so ``import gpo_vae.training`` stays light.
"""
