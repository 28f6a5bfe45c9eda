"""The one type rule of every settings dataclass, and the :class:`Settings` base that
applies it.

Written here rather than taken from pydantic: pydantic's lax mode turns ``"yes"`` and
``1`` into booleans and refuses numbers for strings, its strict mode refuses ``1e-3``
(PyYAML reads it as a string, and the authors' configs write learning rates that way),
and its errors are multi-line; a config error here is one line naming the dotted key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import types
import typing
from typing import Any, Literal

from gpo_vae.errors import ConfigError

MAX_SEED = 2**32 - 1


def check_seed(seed: Any, where: str = "--seed") -> int:
    """``seed`` as an int when numpy can seed with it (0 to 2**32 - 1); otherwise a
    one-line :class:`ConfigError` naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
            not 0 <= seed <= MAX_SEED:
        sep = " " if where.startswith("-") else "="
        raise ConfigError(f"{where}{sep}{seed!r} must be >= 0 and at most {MAX_SEED} (a whole "
                          f"number used as a random seed), e.g. {where}{sep}0")
    return int(seed)


def check_count(value: Any, where: str, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number of at least ``minimum`` (numpy
    integers count, booleans and fractions do not); otherwise a one-line
    :class:`ConfigError` naming ``where``. The rule of every count a Python call takes
    (samples, draws, particles): a zero or negative count gave empty or silently
    meaningless results (NaN or all-zero edge weights) instead of an error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{where}={value!r} must be a whole number of at least {minimum}")
    return int(value)




def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce_setting(value: Any, tp, where: str) -> Any:
    """Check ``value`` against a simple annotation, converting int -> float where natural
    and numeric strings to floats; NaN and infinity are refused. The one type rule of
    every settings dataclass (run config and simulation); errors name ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce_setting(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in allowed:
            value = str(value)      # precision: 32 in YAML is the choice "32"
        if value not in allowed:
            raise ConfigError(
                f"{where}={value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")
        return value
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}={value!r} must be a list")
        return [coerce_setting(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:         # tuple[int, ...]: a list in YAML
        item_type = typing.get_args(tp)[0]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r} must be a list")
        return tuple(coerce_setting(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} must be true or false")
        return value
    if tp is int:  # numpy integers count (numbers.Integral), booleans do not
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}={value!r} must be an integer")
        return int(value)
    if tp is float:
        return _coerce_float(value, where)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} must be a string")
        return str(value)
    raise ConfigError(f"{where}: unsupported setting type {_type_name(tp)}")  # pragma: no cover


def _coerce_float(value: Any, where: str) -> float:
    """A finite float from a number or a numeric string: PyYAML reads ``1e-3`` (no dot)
    as a string, and learning rates are written that way. NaN and infinity are refused
    for every float setting (they would pass ``<= 0`` checks and ruin training)."""
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None:
        raise ConfigError(f"{where}={value!r} must be a number, such as 0.001 or 1e-3")
    if not math.isfinite(number):
        raise ConfigError(f"{where}={value!r} must be a finite number (not nan or inf), "
                          "such as 0.001 or 1e-3")
    return number




class Settings:
    """Base of every settings dataclass (the run config's sections, the simulation's, the
    evaluation's and the design's): :meth:`coerce_fields` applies the one type rule
    (:func:`coerce_setting`) to each field, naming it ``where`` + field in errors;
    subclasses check their ranges in ``validate`` (or ``__post_init__``)."""

    def coerce_fields(self, where: str = "") -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            # object.__setattr__: frozen settings (the simulation's) are coerced too
            object.__setattr__(self, f.name, coerce_setting(getattr(self, f.name),
                                                            hints[f.name], where + f.name))
