"""Helpers the API's functions and model class share: settings read back from prepared
data, a config from any of the forms users give, perturbation labels as a list."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import anndata as ad

from gpo_vae.config import Config, load_config
from gpo_vae.constants import UNS_PREPARE_SETTINGS
from gpo_vae.errors import ConfigError, InputTypeError


def data_settings(adata: ad.AnnData) -> dict:
    """The data settings an AnnData was prepared with (empty when it does not say)."""
    raw = adata.uns.get(UNS_PREPARE_SETTINGS)
    return json.loads(raw) if isinstance(raw, str) else {}


def resolve_config(config: Config | dict | str | os.PathLike | None) -> dict:
    if config is None:
        return {}
    if isinstance(config, Config):
        return config.to_dict()
    if isinstance(config, dict):
        return config
    if not isinstance(config, (str, os.PathLike)):
        raise InputTypeError(f"config must be a Config, a dict or a YAML file path, got "
                             f"{type(config).__name__}")
    return load_config(config).to_dict()


def as_conditions(conditions) -> list[str]:
    """Perturbation labels as a list: one label (a string) or an iterable of labels.

    A string is one condition (iterating ``"SG00020"`` gave one condition per letter).

    Raises
    ------
    ConfigError
        For anything that is not a label or an iterable of labels, or no label at all.
    """
    if isinstance(conditions, str):
        return [conditions]
    if isinstance(conditions, (bytes, dict)) or not isinstance(conditions, Iterable):
        raise ConfigError(f"conditions {conditions!r} is not a perturbation label; give "
                          "one label such as 'G1' or a list of labels such as ['G1', 'G2+G3']")
    labels = list(conditions)
    wrong = [label for label in labels if not isinstance(label, str)]
    if wrong:
        raise ConfigError(f"condition {wrong[0]!r} is not a perturbation label (a string); "
                          "give labels such as 'G1' or 'G2+G3'")
    if not labels:
        raise ConfigError("no conditions given; give at least one perturbation label")
    return labels


