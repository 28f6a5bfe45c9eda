"""GPO-VAE: generative model, guide and loss as separate pieces, joined in one module
(:class:`GpoVaeModule`) with ``inference`` / ``generative`` / ``loss``."""

from gpo_vae.models.builder import DataInfo, build_gpo_vae
from gpo_vae.models.generative import GpoVaeModel
from gpo_vae.models.guide import GpoVaeGuide
from gpo_vae.models.loss import LOSS_TERMS, GpoVaeLoss, LossOutput
from gpo_vae.models.module import GpoVaeModule

__all__ = ["DataInfo", "GpoVaeGuide", "GpoVaeLoss", "GpoVaeModel", "GpoVaeModule", "LOSS_TERMS",
           "LossOutput", "build_gpo_vae"]
