"""Frozen-dataclass configs from TOML/YAML files with ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import enum
import json
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from uniret.errors import InputError

T = TypeVar("T")


SHIPPED_CONFIGS = Path(__file__).parent / "configs"
"""The training configs and recipes that ship with uniret (``configs/`` of the repository)."""


def resolve_config(path: str | Path) -> Path:
    """A config file's path: as given where it exists (absolute, or relative to the current
    folder), else the shipped config of that name when ``path`` is ``configs/<name>`` or a bare
    name, so ``configs/universal-kiltmini.toml`` works from any folder; else as given."""
    p = Path(path)
    if p.exists() or p.is_absolute() or p.parent not in (Path(), Path("configs")):
        return p
    shipped = SHIPPED_CONFIGS / p.name
    return shipped if shipped.is_file() else p


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file into a dict (a relative
    ``configs/<name>`` missing here is the shipped one, :func:`resolve_config`)."""
    p = resolve_config(path)
    if not p.is_file():
        raise InputError(
            path, None, None, "is a folder, expected a file" if p.is_dir() else "no such file"
        )
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # parse errors of either library
        raise InputError(p, None, None, f"cannot parse config: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(p, None, None, "config must be a table/mapping at the top level")
    return data


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["lr=1e-5", "tasks=trex,grec"]`` -> ``{"lr": "1e-5", "tasks": "trex,grec"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--set", None, pair, "expected key=value")
        out[key.strip()] = value.strip()
    return out


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (
            isinstance(value, str) and value.lower() in ("none", "null", "")
        )
        if is_none and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    try:
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            items = [x.strip() if isinstance(x, str) else x for x in items if x != ""]
            item_type = args[0] if args else str
            return tuple(_coerce(x, item_type, key, source) for x in items)
        if origin is dict or hint is dict:
            return json.loads(value) if isinstance(value, str) else dict(value)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint(value)
        if hint is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return hint(value)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InputError(source, None, key, f"cannot read {value!r} as {hint}") from None
    return value


def build_config(cls: type[T], data: dict[str, Any], overrides: dict[str, str], source: str) -> T:
    """Make ``cls`` from file data plus overrides; unknown keys are an error naming the key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    merged = {**data, **overrides}
    unknown = sorted(set(merged) - names)
    if unknown:
        where = "--set" if unknown[0] in overrides else source
        raise InputError(
            where, None, unknown[0], f"unknown key; known keys: {', '.join(sorted(names))}"
        )
    values = {
        k: _coerce(v, hints[k], k, "--set" if k in overrides else source) for k, v in merged.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(source, None, None, str(exc)) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON/TOML-ready dict of a config dataclass (enums as values, tuples as lists)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if isinstance(v, enum.Enum):
            v = v.value
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def to_toml(data: dict[str, Any]) -> str:
    """A flat dict as TOML (None values are left out)."""
    lines = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
