"""GPO-VAE: generative model, guide and loss as separate modules (DESIGN.md section 2)."""

from gpo_vae.models.builder import DataInfo, build_gpo_vae
from gpo_vae.models.generative import GpoVaeModel
from gpo_vae.models.guide import GpoVaeGuide
from gpo_vae.models.loss import LOSS_TERMS, GpoVaeLoss

__all__ = ["DataInfo", "GpoVaeGuide", "GpoVaeLoss", "GpoVaeModel", "LOSS_TERMS",
           "build_gpo_vae"]
