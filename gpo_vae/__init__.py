"""gpo-vae: GPO-VAE for Perturb-seq screens, with an explicit gene regulatory network.

The Python API (loaded on first use, so ``gpo-vae --help`` stays fast)::

    import gpo_vae as gv
    adata = gv.simulate("small", seed=0)
    prepared = gv.prepare(adata, preset="simulated")
    model = gv.GpoVae(prepared, n_latent=16).train(max_epochs=5)
    grn = model.get_grn()
    ate = model.predict_ate(["G1", "G2+G3"])
    result = gv.evaluate(model, prepared, split="test")
    table = gv.benchmark("demo/gpo_vae_demo.yaml", seeds=3).table   # methods x seeds
    model.save("run/"); model = gv.GpoVae.load("run/", prepared)
    gv.download(["rpe1", "summary_stats"])   # benchmark data into datasets/
    gv.settings.verbosity = "info"           # step-by-step messages (standard logging)
    gv.settings.progress_bar = False         # no progress bars
"""

from gpo_vae._settings import numba_threads_follow_omp
from gpo_vae._version import __version__
from gpo_vae.errors import (
    ConfigError,
    GpoVaeError,
    InputDataError,
    InputFileError,
    InputTypeError,
)

numba_threads_follow_omp()

_API = ("GpoVae", "evaluate", "prepare", "simulate")

__all__ = ["ConfigError", "GpoVae", "GpoVaeError", "InputDataError", "InputFileError",
           "InputTypeError", "__version__", "benchmark", "download", "evaluate", "prepare",
           "settings", "simulate"]


def __getattr__(name: str):
    if name in _API:
        from gpo_vae import api

        return getattr(api, name)
    if name == "settings":
        from gpo_vae._settings import settings

        return settings
    if name == "benchmark":
        from gpo_vae.benchmarking import benchmark

        return benchmark
    if name == "download":
        from gpo_vae.download import download

        return download
    raise AttributeError(f"module 'gpo_vae' has no attribute {name!r}")
