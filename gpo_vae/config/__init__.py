"""Typed, validated run configuration loaded from YAML.

A config has a few top-level keys (``name``, ``output_dir``) and the sections ``data``,
``model``, ``guide``, ``loss``, ``training`` and ``logging``. Unknown keys and values of
the wrong type are errors that name the key. ``--set section.key=value`` overrides any
key. Flat dotted keys (``data.split: cells`` at top level) load, and so do the GPO-VAE
authors' own files (``model_kwargs.n_latent: 200``; see :mod:`gpo_vae.authors_config`).

The sections live in :mod:`~gpo_vae.config.sections`, the whole run in
:mod:`~gpo_vae.config.run`, reading and writing in :mod:`~gpo_vae.config.loading`, and the
one type rule every settings dataclass shares in :mod:`~gpo_vae.config._types`.
"""

from gpo_vae.config._types import (
    MAX_SEED,
    Settings,
    check_count,
    check_seed,
    coerce_setting,
)
from gpo_vae.config.loading import (
    config_from_dict,
    dump_config,
    load_config,
    parse_overrides,
    read_yaml,
    section_settings,
)
from gpo_vae.config.run import INPUT_PATH_KEYS, Config, absolute_path, with_absolute_inputs
from gpo_vae.config.sections import (
    ACCELERATORS,
    DataConfig,
    GuideConfig,
    LoggingConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
)
from gpo_vae.constants import DATA_PRESETS

__all__ = ["ACCELERATORS", "DATA_PRESETS", "INPUT_PATH_KEYS", "MAX_SEED", "Config",
           "DataConfig", "GuideConfig", "LoggingConfig", "LossConfig", "ModelConfig",
           "Settings", "TrainingConfig", "absolute_path", "check_count", "check_seed",
           "coerce_setting", "config_from_dict", "dump_config", "load_config",
           "parse_overrides", "read_yaml", "section_settings", "with_absolute_inputs"]
