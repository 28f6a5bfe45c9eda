"""Configs from YAML files, dicts and ``--set`` overrides, and back to YAML; keyword
settings routed to their section."""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

import yaml

from gpo_vae.config._types import coerce_setting
from gpo_vae.config.run import Config
from gpo_vae.config.sections import (
    DataConfig,
    GuideConfig,
    LoggingConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
)
from gpo_vae.errors import ConfigError


def _build(cls, values: dict, where: str):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys"
            f"{' in ' + where if where else ''}: "
            f"{', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config section {key!r} must be a mapping of keys to values")
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = coerce_setting(value, tp, key)
    return cls(**kwargs)


def _nest(flat: dict) -> dict:
    """Turn dotted keys (``data.split``) into nested sections; nested input passes through."""
    nested: dict = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r} conflicts with a value set for {part!r}")
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return nested


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["data.split=cells", ...]`` to a nested dict; values parsed as YAML scalars."""
    flat = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects section.key=value, got {pair!r}")
        try:
            flat[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML; quote it or "
                              "fix its brackets, e.g. data.split_fractions=[0.6,0.2,0.2]") from None
    return _nest(flat)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(values: dict, overrides: list[str] | None = None) -> Config:
    """Build and validate a :class:`Config` from a (nested or flat dotted) mapping; the
    authors' flat files are translated first."""
    from gpo_vae.authors_config import is_authors_config, translate_authors_config

    values = values or {}
    if is_authors_config(values):
        values = translate_authors_config(values)
    merged = _merge(_nest(values), parse_overrides(overrides))
    return _build(Config, merged, "").validate()


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config file (or defaults when ``path`` is None) and apply ``--set``s."""
    values: dict = {}
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config file {str(p)!r} is a folder; give the YAML file "
                              "inside it (e.g. its config.yaml)")
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} not found; check the --config path")
        values = read_yaml(p, "config file") or {}
        if not isinstance(values, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of keys to values")
    return config_from_dict(values, overrides)


def read_yaml(path: Path, what: str):
    """Parse a YAML file; a syntax error is a one-line error naming the file and line."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a text file (binary content); give "
                          "a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML{line}; fix its syntax") \
            from None


def dump_config(config: Config) -> str:
    """The resolved config as YAML (what a run folder's ``config.yaml`` holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "guide": GuideConfig,
             "loss": LossConfig, "training": TrainingConfig, "logging": LoggingConfig}


def section_settings(settings: dict, sections: tuple[str, ...]) -> dict:
    """Keyword settings to a nested mapping: a bare name (``n_latent=32``) goes to the one
    section among ``sections`` that has it, a dotted one (``"loss.beta"``) where it says.
    An unknown or ambiguous name is a one-line error listing where to look."""
    nested: dict = {}
    for key, value in settings.items():
        if "." in key:
            section, name = key.split(".", 1)
        else:
            owners = [s for s in sections
                      if key in {f.name for f in dataclasses.fields(_SECTIONS[s])}]
            if len(owners) != 1:
                where = "no section" if not owners else f"sections {', '.join(owners)}"
                raise ConfigError(
                    f"setting {key!r} is in {where} of {', '.join(sections)}; check the name, "
                    "or write it as 'section.name' in a config dict")
            section, name = owners[0], key
        nested.setdefault(section, {})[name] = value
    return nested
