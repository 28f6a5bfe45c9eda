"""Read the GPO-VAE authors' flat configuration files (``demo/gpo_vae_rpe1.yaml`` in their
repository): ``model_kwargs.n_latent: 200``, ``data_module: RPE1DataModule``, ...

Each of their keys maps to one of ours; class names (``model: gpo_vae_Model``) are
checked and dropped, and a key we do not know is an error naming it, as for our own files.
"""

from __future__ import annotations

from gpo_vae.errors import ConfigError

_KEY_MAP = {
    "name": "name",
    "seed": "training.seed",
    "max_epochs": "training.max_epochs",
    "max_steps": "training.max_steps",
    "gradient_clip_norm": "training.gradient_clip",
    "devices": "training.devices",
    "accelerator": "training.accelerator",
    "output_dir": "output_dir",
    "use_wandb": "logging.wandb",
    "wandb_kwargs.name": "logging.wandb_name",
    "wandb_kwargs.project": "logging.wandb_project",
    "wandb_kwargs.group": "logging.wandb_group",
    "data_module_kwargs.batch_size": "data.batch_size",
    "data_module_kwargs.data_path": "data.path",
    "data_module_kwargs.qc_threshold": "data.qc_threshold",
    "data_module_kwargs.stat_path": "data.summary_stats",
    "data_module_kwargs.get_pair_mode": "data.pairing",
    "model_kwargs.n_latent": "model.n_latent",
    "model_kwargs.mask_prior": "model.mask_prior",
    "model_kwargs.logits_or_probs": "model.mask_mode",
    "model_kwargs.embedding_prior_scale": "model.prior_scale",
    "model_kwargs.likelihood_key": "model.likelihood",
    "model_kwargs.decoder_n_layers": "model.decoder_n_layers",
    "model_kwargs.decoder_n_hidden": "model.decoder_n_hidden",
    "guide_kwargs.basal_encoder_n_layers": "guide.basal_encoder_n_layers",
    "guide_kwargs.basal_encoder_n_hidden": "guide.basal_encoder_n_hidden",
    "guide_kwargs.embedding_encoder_n_layers": "guide.embedding_encoder_n_layers",
    "guide_kwargs.embedding_encoder_n_hidden": "guide.embedding_encoder_n_hidden",
    "guide_kwargs.basal_encoder_input_normalization": "guide.input_normalization",
    "guide_kwargs.mask_init": "guide.mask_init",
    "guide_kwargs.knowledge_path": "guide.prior_network",
    "loss_module_kwargs.beta": "loss.beta",
    "loss_module_kwargs.alpha": "loss.alpha",
    "loss_module_kwargs.hop": "loss.hop",
    "loss_module_kwargs.fc_criteria": "loss.fc_criteria",
    "loss_module_kwargs.gloss_coeff": "loss.gloss_coeff",
    "loss_module_kwargs.penaly_coeff": "loss.penalty_coeff",  # sic, the authors' spelling
    "loss_module_kwargs.penalty_coeff": "loss.penalty_coeff",
    "lightning_module_kwargs.lr": "training.lr",
    "lightning_module_kwargs.n_particles": "training.n_particles",
}
_PRESETS = {"RPE1DataModule": "rpe1", "ReplogleDataModule": "replogle_k562",
            "AdamsonDataModule": "adamson"}
_CLASSES = {"model": "gpo_vae_Model", "guide": "gpo_vae_CorrelatedNormalGuide",
            "loss_module": "gpo_vae_ELBOLossModule", "predictor": "gpo_vae_Predictor"}
_PAIRING = {"hpm": "hungarian"}
# accepted and ignored: these configure things our pipeline does itself
_IGNORED = {"loss_module_kwargs.knowledge_path", "guide_kwargs.n_latent",
            "guide_kwargs.logits_or_probs", "model_kwargs.sum_mode",
            "guide_kwargs.mean_field_encoder", "data_module_kwargs.mask_test"}


def is_authors_config(values: dict) -> bool:
    """True for a flat file in the authors' format (``*_kwargs.*`` keys or class names)."""
    return any("_kwargs." in str(key) for key in values) or \
        any(isinstance(values.get(key), str) for key in ("model", "guide", "data_module"))


def translate_authors_config(values: dict) -> dict:
    """Our flat dotted-key mapping for an authors' config (see the module docstring)."""
    out: dict = {}
    for key, value in values.items():
        key = str(key).strip()
        if key in _CLASSES:
            if value != _CLASSES[key]:
                raise ConfigError(f"{key}: {value!r} is not supported; only {_CLASSES[key]} "
                                  "(GPO-VAE) is implemented here")
        elif key == "data_module":
            if value not in _PRESETS:
                raise ConfigError(f"data_module: {value!r} is unknown; use one of "
                                  f"{', '.join(_PRESETS)}")
            out["data.preset"] = _PRESETS[value]
        elif key in _KEY_MAP:
            if value is None and key != "loss_module_kwargs.alpha":
                continue  # empty values mean "the default" in the authors' files
            if key == "data_module_kwargs.get_pair_mode":
                value = _PAIRING.get(value, value)
            out[_KEY_MAP[key]] = value
        elif key in _IGNORED:
            continue  # handled by _consistent_flags or by our own pipeline
        elif key.startswith(("data.", "model.", "guide.", "loss.", "training.", "logging.")):
            out[key] = value  # our own dotted keys may be mixed in
        else:
            raise ConfigError(f"unknown key {key!r} in an authors'-format config; remove it "
                              "or use our nested sections (see demo/gpo_vae_demo.yaml)")
    _consistent_flags(values, out)
    # their files describe their model: the authors' variant, unless a dotted key says
    out.setdefault("model.variant", "authors")
    return out


def _consistent_flags(values: dict, out: dict) -> None:
    """Carry the authors' boolean switches over to our named options."""
    if values.get("model_kwargs.sum_mode"):
        out["model.latent_mode"] = "sum"
    if values.get("guide_kwargs.mean_field_encoder"):
        out["guide.encoder"] = "mean_field"
    model_mode = values.get("model_kwargs.logits_or_probs")
    guide_mode = values.get("guide_kwargs.logits_or_probs")
    if model_mode and guide_mode and model_mode != guide_mode:
        raise ConfigError("model_kwargs.logits_or_probs and guide_kwargs.logits_or_probs "
                          "differ; set both to logits or both to probs")
    if guide_mode and not model_mode:
        out["model.mask_mode"] = guide_mode
    mask_test = values.get("data_module_kwargs.mask_test")
    if mask_test:  # the authors' unseen-perturbation setting
        out["data.split"] = "perturbations"
    if values.get("guide_kwargs.n_latent") not in (None, values.get("model_kwargs.n_latent")):
        raise ConfigError("guide_kwargs.n_latent must equal model_kwargs.n_latent")
