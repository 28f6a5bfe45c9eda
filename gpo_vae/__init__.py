"""gpo-vae: GPO-VAE for Perturb-seq screens, with an explicit gene regulatory network."""

__version__ = "0.1.0"

from gpo_vae.errors import ConfigError, GpoVaeError, InputDataError, InputFileError  # noqa: E402

__all__ = ["ConfigError", "GpoVaeError", "InputDataError", "InputFileError", "__version__"]
