"""The GPO-VAE authors' flat config files load into our typed config."""

import pytest
import yaml

from gpo_vae.config import config_from_dict, load_config
from gpo_vae.errors import ConfigError

# the shape of the authors' demo/gpo_vae_rpe1.yaml (values as published)
AUTHORS_RPE1 = """
name: gpo_vae_rpe1
seed: 0
max_epochs: 2000
gradient_clip_norm: 100
devices: [4]
use_wandb: False
wandb_kwargs.name: gpo_vae_rpe1_ot
wandb_kwargs.project: gpo_vae_rpe1
data_module: RPE1DataModule
data_module_kwargs.batch_size: 512
data_module_kwargs.data_path: ./datasets/rpe1.h5ad
data_module_kwargs.qc_threshold: 3
data_module_kwargs.stat_path: ./datasets/summary_stats.xlsx
data_module_kwargs.get_pair_mode: ot
data_module_kwargs.mask_test:
model: gpo_vae_Model
model_kwargs.n_latent: 200
model_kwargs.mask_prior: 0.3
model_kwargs.logits_or_probs: logits
model_kwargs.embedding_prior_scale: 1
model_kwargs.likelihood_key: library_nb
model_kwargs.decoder_n_layers: 1
model_kwargs.decoder_n_hidden: 400
model_kwargs.sum_mode: False
guide: gpo_vae_CorrelatedNormalGuide
guide_kwargs.n_latent: 200
guide_kwargs.basal_encoder_n_layers: 1
guide_kwargs.basal_encoder_n_hidden: 200
guide_kwargs.embedding_encoder_n_layers: 4
guide_kwargs.embedding_encoder_n_hidden: 400
guide_kwargs.basal_encoder_input_normalization: log_standardize
guide_kwargs.mean_field_encoder: False
guide_kwargs.mask_init: 0
guide_kwargs.logits_or_probs: logits
guide_kwargs.knowledge_path:
loss_module: gpo_vae_ELBOLossModule
loss_module_kwargs.beta : 0.1
loss_module_kwargs.alpha :
loss_module_kwargs.hop : 5
loss_module_kwargs.fc_criteria : 0.5
loss_module_kwargs.knowledge_path :
loss_module_kwargs.gloss_coeff: 100
loss_module_kwargs.penaly_coeff: 10
lightning_module_kwargs.lr: 0.0003
lightning_module_kwargs.n_particles: 5
predictor: gpo_vae_Predictor
"""


def test_authors_rpe1_file_maps_to_our_sections(tmp_path):
    path = tmp_path / "gpo_vae_rpe1.yaml"
    path.write_text(AUTHORS_RPE1)
    config = load_config(path)
    assert config.name == "gpo_vae_rpe1"
    assert config.data.preset == "rpe1" and config.data.pairing == "ot"
    assert config.data.summary_stats == "./datasets/summary_stats.xlsx"
    assert config.model.n_latent == 200 and config.model.latent_mode == "concat"
    assert config.guide.basal_encoder_n_hidden == 200 and config.guide.encoder == "correlated"
    assert config.loss.penalty_coeff == 10 and config.loss.alpha is None
    assert config.training.lr == pytest.approx(3e-4) and config.training.n_particles == 5
    assert config.training.devices == [4] and config.training.gradient_clip == 100
    assert config.logging.wandb is False and config.logging.wandb_project == "gpo_vae_rpe1"


def test_authors_switches_and_overrides():
    values = yaml.safe_load(AUTHORS_RPE1)
    values.update({"model_kwargs.sum_mode": True, "guide_kwargs.mean_field_encoder": True,
                   "data_module_kwargs.get_pair_mode": "hpm",
                   "data_module_kwargs.mask_test": [1, 2]})
    config = config_from_dict(values, ["training.max_epochs=3"])
    assert config.model.latent_mode == "sum" and config.guide.encoder == "mean_field"
    assert config.data.pairing == "hungarian" and config.data.split == "perturbations"
    assert config.training.max_epochs == 3


@pytest.mark.parametrize("change,message", [
    ({"model_kwargs.n_latnt": 3}, "unknown key 'model_kwargs.n_latnt'"),
    ({"model": "SAMSVAE_Model"}, "only gpo_vae_Model"),
    ({"data_module": "NormanDataModule"}, "data_module"),
    ({"guide_kwargs.logits_or_probs": "probs"}, "logits_or_probs"),
    ({"guide_kwargs.n_latent": 10}, "guide_kwargs.n_latent"),
])
def test_bad_authors_values_are_named(change, message):
    values = yaml.safe_load(AUTHORS_RPE1)
    values.update(change)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(values)
