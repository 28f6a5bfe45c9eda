"""A sweep file: Weights & Biases sweep YAML plus the few keys gpo-vae needs.

The W&B keys (``method``, ``metric``, ``parameters``, ``name``, ``description``,
``program``, ``command``, ``project``, ``entity``, ``early_terminate``, ``run_cap``) keep
their W&B meaning, so the same file creates a W&B sweep. Ours:

- ``base_config``: the gpo-vae config every trial starts from (a path relative to the
  working directory or, failing that, to the sweep file);
- ``output_dir``: the sweep's folder (trials, ``sweep_results.csv``, redun's database);
  default ``results/sweeps/<name>``;
- ``seed``: seed of the local random search, so a rerun proposes the same trials;
- ``evaluation``: settings of each trial's evaluation (see
  :class:`~gpo_vae.evaluation.settings.EvaluationSettings`; ``split`` is always ``val``).

Parameters address config keys with dots (``loss.gloss_coeff``); W&B's nested form
(``loss: {parameters: {gloss_coeff: ...}}``) is read too. Everything is checked on load,
so a bad key or distribution fails before any trial runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from gpo_vae.config import config_from_dict, load_config, read_yaml
from gpo_vae.errors import ConfigError
from gpo_vae.sweep.parameter import (
    Parameter,
    fail,
    parse_parameter,
    representative_value,
    yaml_number,
)

WANDB_KEYS = ("name", "description", "program", "command", "project", "entity", "method",
              "metric", "parameters", "early_terminate", "run_cap")
OUR_KEYS = ("base_config", "output_dir", "seed", "evaluation")
METHODS = ("grid", "random", "bayes")
GOALS = ("maximize", "minimize")

# the split decides which cells validate and test a trial: trials must share it
FIXED_KEYS = ("data.split", "data.split_fractions", "data.seed", "data.path")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    path: Path
    name: str
    method: str
    metric_name: str
    metric_goal: str
    parameters: tuple[Parameter, ...]
    base_config_path: Path
    base_config: dict
    output_dir: Path
    seed: int = 0
    run_cap: int | None = None
    evaluation: dict = field(default_factory=dict)
    wandb_extra: dict = field(default_factory=dict)  # other W&B keys, passed through

    @property
    def maximize(self) -> bool:
        return self.metric_goal == "maximize"

    def as_wandb(self) -> dict:
        """The W&B sweep config (our own keys left out, so a W&B server accepts it)."""
        return {**self.wandb_extra, "name": self.name, "method": self.method,
                "metric": {"name": self.metric_name, "goal": self.metric_goal},
                "parameters": {p.key: p.as_wandb() for p in self.parameters}}

    def trial_config(self, params: dict) -> dict:
        """The base config with ``params`` (dotted keys) set, as a nested dict."""
        return trial_config_dict(self.base_config, params)


def trial_config_dict(base: dict, params: dict) -> dict:
    """``base`` (a resolved config dict) with each dotted key of ``params`` replaced."""
    config = {section: dict(values) if isinstance(values, dict) else values
              for section, values in base.items()}
    for key, value in params.items():
        section, _, name = key.partition(".")
        if name:
            config.setdefault(section, {})[name] = value
        else:
            config[section] = value
    return config


def _flatten_parameters(raw: dict, path: Path, prefix: str = "") -> dict[str, dict]:
    """Dotted keys from either form: ``{"loss.beta": {...}}`` or W&B's nested
    ``{"loss": {"parameters": {"beta": {...}}}}``."""
    flat: dict[str, dict] = {}
    for key, spec in raw.items():
        full = f"{prefix}{key}"
        if not isinstance(spec, dict):
            raise fail(path, f"parameter {full!r} must be a mapping such as "
                        "{values: [1, 2]} or {distribution: uniform, min: 0, max: 1}")
        if "parameters" in spec:
            if set(spec) != {"parameters"} or not isinstance(spec["parameters"], dict):
                raise fail(path, f"nested parameter {full!r} may hold only 'parameters:'")
            flat.update(_flatten_parameters(spec["parameters"], path, f"{full}."))
        else:
            flat[full] = spec
    return flat


def _resolve_base_config(value, path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise fail(path, "needs 'base_config: <gpo-vae config YAML>' naming the config "
                    "every trial starts from, e.g. base_config: demo/gpo_vae_demo.yaml")
    for candidate in (Path(value), path.parent / value):
        if candidate.is_file():
            return candidate
    raise fail(path, f"base_config {value!r} not found (looked in the working directory "
                f"and next to the sweep file); fix the path")


def _check_keys(parameters: tuple[Parameter, ...], base: dict, path: Path) -> None:
    """Every parameter must name a config key; a value it can take must be valid."""
    for p in parameters:
        if p.key in FIXED_KEYS:
            raise fail(path, f"parameter {p.key!r} cannot be swept: it changes which cells "
                        "validate and test each trial, so trials would not be comparable "
                        "(and one trial's test cells could train another); set it in the base "
                        "config instead")
        section, _, name = p.key.partition(".")
        if not name or section not in base or not isinstance(base[section], dict):
            sections = [k for k, v in base.items() if isinstance(v, dict)]
            raise fail(path, f"parameter {p.key!r} is not a config key; write "
                        f"section.key with a section among {', '.join(sections)}")
        if name not in base[section]:
            raise fail(path, f"parameter {p.key!r} is not a config key; valid keys in "
                        f"{section}: {', '.join(sorted(base[section]))}")
        for value in (p.values or [representative_value(p)]):
            try:
                config_from_dict(trial_config_dict(base, {p.key: value}))
            except ConfigError as exc:
                raise fail(path, f"parameter {p.key!r} value {value!r} is invalid: {exc}") \
                    from None


def _evaluation_settings(raw, path: Path) -> dict:
    """Check the trials' evaluation settings now, not after the first trial has trained."""
    from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise fail(path, "evaluation must be a mapping, e.g. {n_samples: 500}")
    defaults = EvaluationSettings()
    known = {f.name for f in dataclasses.fields(EvaluationSettings)} - {"split"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise fail(path, f"unknown evaluation setting {unknown[0]!r}; choose among "
                    f"{', '.join(sorted(known))} (trials are always scored on the val split)")
    settings = {}
    for name, value in raw.items():
        default = getattr(defaults, name)
        value = yaml_number(value)
        if isinstance(default, tuple):
            ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
            value = list(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            kind = ("a list of integers" if isinstance(default, tuple) else
                    "an integer" if isinstance(default, int) else "a number")
            raise fail(path, f"evaluation.{name}={value!r} must be {kind}")
        settings[name] = value
    if "n_samples" in settings and "n_global" not in settings:
        settings["n_global"] = default_global_draws(settings["n_samples"])
    try:
        EvaluationSettings(**{**settings, "split": "val"}).validate()
    except ConfigError as exc:
        raise fail(path, f"evaluation: {exc}") from None
    return settings


def load_sweep(path: str | os.PathLike, *, output_dir: str | os.PathLike | None = None,
               overrides: list[str] | None = None) -> SweepSpec:
    """Read and check a sweep file: method, metric, every parameter (key, distribution and
    a value it can take) and the base config. ``overrides`` (``section.key=value``) apply
    to the base config, as ``--set`` does for ``gpo-vae train``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {str(path)!r} not found; check the path")
    raw = read_yaml(path, "sweep file")
    if not isinstance(raw, dict):
        raise fail(path, "must hold a mapping (method, metric, parameters, base_config)")
    unknown = sorted(set(raw) - set(WANDB_KEYS) - set(OUR_KEYS))
    if unknown:
        raise fail(path, f"unknown key {unknown[0]!r}; W&B keys: {', '.join(WANDB_KEYS)}; "
                    f"gpo-vae keys: {', '.join(OUR_KEYS)}")
    method = raw.get("method")
    if method not in METHODS:
        raise fail(path, f"method={method!r}; choose one of {', '.join(METHODS)}")
    metric_name, goal = _metric(raw.get("metric"), path)
    parameters = _parameters(raw.get("parameters"), method, path)
    base_path = _resolve_base_config(raw.get("base_config"), path)
    base = load_config(base_path, overrides).to_dict()
    _check_keys(parameters, base, path)
    name, run_cap, seed, out = _run_settings(raw, path, output_dir)
    extra = {k: raw[k] for k in WANDB_KEYS
             if k in raw and k not in ("name", "method", "metric", "parameters")}
    return SweepSpec(path=path, name=name, method=method, metric_name=metric_name,
                     metric_goal=goal, parameters=parameters, base_config_path=base_path,
                     base_config=base, output_dir=Path(out), seed=seed, run_cap=run_cap,
                     evaluation=_evaluation_settings(raw.get("evaluation"), path),
                     wandb_extra=extra)


def _metric(metric, path: Path) -> tuple[str, str]:
    """The metric's name and goal; a goal that would pick the worst trial is refused."""
    from gpo_vae.sweep.metrics import check_metric_name, metric_goal

    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise fail(path, "needs 'metric: {name: ..., goal: maximize|minimize}', e.g. "
                    "name: ate.model.pearson_top20")
    extra = sorted(set(metric) - {"name", "goal", "target"})
    if extra:
        raise fail(path, f"metric has unknown field {extra[0]!r}; it takes name and goal")
    try:
        check_metric_name(metric["name"])
    except ConfigError as exc:
        raise fail(path, str(exc)) from None
    known = metric_goal(metric["name"])
    goal = metric.get("goal", known or "minimize")  # W&B's default when nothing is known
    if goal not in GOALS:
        raise fail(path, f"metric.goal={goal!r}; choose maximize or minimize")
    if known is not None and goal != known:
        raise fail(path, f"metric {metric['name']} is better when "
                    f"{'higher' if known == 'maximize' else 'lower'}, so goal: {goal} would "
                    f"pick the worst trial; use goal: {known} (or leave it out)")
    return metric["name"], goal


def _parameters(raw_params, method: str, path: Path) -> tuple[Parameter, ...]:
    if not isinstance(raw_params, dict) or not raw_params:
        raise fail(path, "needs 'parameters:' with at least one config key to sweep, e.g. "
                    "loss.gloss_coeff: {values: [10, 100]}")
    parameters = tuple(parse_parameter(k, v, path)
                       for k, v in _flatten_parameters(raw_params, path).items())
    if method == "grid":
        continuous = [p.key for p in parameters if p.values is None]
        if continuous:
            raise fail(path, f"grid search needs 'values' or 'value' for every parameter; "
                        f"{continuous[0]!r} has a distribution (use method: random or bayes)")
    return parameters


def _run_settings(raw: dict, path: Path, output_dir) -> tuple[str, int | None, int, object]:
    """The sweep's name, run cap, seed and output folder, checked."""
    name = raw.get("name") or path.stem
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise fail(path, f"name={name!r} must be letters, digits, '-' or '_'")
    run_cap = raw.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool)
                                or run_cap < 1):
        raise fail(path, f"run_cap={run_cap!r} must be a positive integer")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise fail(path, f"seed={seed!r} must be an integer")
    out = output_dir or raw.get("output_dir") or Path("results") / "sweeps" / name
    if not isinstance(out, (str, Path)):
        raise fail(path, f"output_dir={out!r} must be a folder path")
    return name, run_cap, seed, out

