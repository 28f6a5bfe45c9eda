"""The Python API (scvi-tools style): prepare a screen in memory, then train, query, save
and load a :class:`GpoVae` model. The command line is a thin layer over the same code.

:class:`GpoVae` is composed of small mixins (``_training``, ``_prediction``, ``_grn``,
``_design``, ``_save_load``) over the pure-torch module of :mod:`gpo_vae.models`.

Examples
--------
>>> import gpo_vae as gv
>>> adata = gv.simulate("small", seed=0)                        # doctest: +SKIP
>>> prepared = gv.prepare(adata, preset="simulated")            # doctest: +SKIP
>>> model = gv.GpoVae(prepared, n_latent=16).train(max_epochs=5)  # doctest: +SKIP
>>> model.get_grn().head()                                      # doctest: +SKIP
"""

from gpo_vae.api._functions import evaluate, prepare, simulate
from gpo_vae.api._model import GpoVae
from gpo_vae.constants import DEFAULT_CONTROL_LABEL

__all__ = ["DEFAULT_CONTROL_LABEL", "GpoVae", "evaluate", "prepare", "simulate"]
