"""Config fields with declared ranges, and TOML tables -> validated config dataclasses.

The leaf every stage's config builds on (it imports nothing of the stages): each stage declares
its config dataclass (``TrackerConfig`` in ``adas.track``...) with :func:`param`, carrying the
allowed range and unit; :func:`from_mapping` builds one from a TOML table and rejects unknown
keys, wrong types and out-of-range values with a message naming the key, the value and the
allowed range. The aggregate :class:`adas.config.AdasConfig` sits above the stages.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from adas.errors import ConfigError

T = TypeVar("T")

__all__ = ["from_mapping", "merge", "param", "read_toml", "validate"]


def param(default: Any, *, lo: float | None = None, hi: float | None = None, unit: str = "") -> Any:
    """A config field with an allowed closed range ``[lo, hi]`` (either end may be open)."""
    return dataclasses.field(default=default, metadata={"lo": lo, "hi": hi, "unit": unit})


def validate(obj: Any, section: str = "") -> None:
    """Check every numeric field of a config dataclass against its declared range.

    Raises ConfigError naming ``section.key``, the value and the allowed range.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{section}.{f.name}" if section else f.name
        if dataclasses.is_dataclass(value):
            validate(value, key)
            continue
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if lo is None and hi is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                msg = f"config {key} = {value!r}: expected a number"
                raise ConfigError(msg)
            unit = f" {f.metadata.get('unit')}" if f.metadata.get("unit") else ""
            rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]{unit}"
            if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
                msg = f"config {key} = {value!r} is outside the allowed range {rng}"
                raise ConfigError(msg)


def from_mapping(cls: type[T], table: Mapping[str, Any], section: str = "") -> T:
    """Build config dataclass ``cls`` from a TOML table, validating keys, types and ranges."""
    if not dataclasses.is_dataclass(cls):
        msg = f"{cls!r} is not a config dataclass"
        raise TypeError(msg)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        msg = f"config [{section}] has unknown keys {unknown}; allowed: {sorted(fields)}"
        raise ConfigError(msg)
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        f = fields[name]
        key = f"{section}.{name}" if section else name
        default = f.default if f.default is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            kwargs[name] = from_mapping(type(default), value, key)
            continue
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if isinstance(default, bool) and not isinstance(value, bool):
            msg = f"config {key} = {value!r}: expected true or false"
            raise ConfigError(msg)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(default, str) and not isinstance(value, str):
            msg = f"config {key} = {value!r}: expected a string"
            raise ConfigError(msg)
        kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        msg = f"config [{section}]: {exc}"
        raise ConfigError(msg) from exc
    validate(obj, section)
    return obj


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        msg = f"config file {path} not found"
        raise ConfigError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"config file {path} is not valid TOML: {exc}"
        raise ConfigError(msg) from exc


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge of TOML tables: ``override`` wins."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out
