"""Base class for user-facing configs, `--set key.sub=value` overrides, and the translation of
pydantic errors into ConfigError: every config of thrifty is read and overridden through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from thrifty.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound="FrozenConfig")


class FrozenConfig(BaseModel):
    """Immutable, strict config: unknown keys are errors, every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def format_validation_error(error: ValidationError, where: str) -> str:
    """One line per problem, each naming the dotted key, the value and what was expected."""
    lines = [f"invalid {where}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{key}': remove it or check its spelling")
        else:
            value = item.get("input")
            lines.append(f"  - {key}: {item['msg']} (got {value!r})")
    return "\n".join(lines)


def parse_config(cls: type[ConfigT], data: Mapping[str, Any] | None, where: str) -> ConfigT:
    """Validate `data` into `cls`, raising ConfigError with every problem named."""
    try:
        return cls.model_validate(dict(data or {}))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, where)) from None


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file holding a mapping; a missing, unreadable, non-UTF-8 file or bad YAML is
    a ConfigError naming it. An empty file (or one of comments only) gives an empty mapping:
    the defaults; `is_empty_config` lets a command say so."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config {str(path)!r} is a directory; pass the path of a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass the path of a YAML file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {str(path)!r} is not UTF-8 text (byte 0x{error.object[error.start]:02x}"
            f" at offset {error.start}): it may be binary or damaged; pass a YAML file"
        ) from None
    except OSError as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return dict(data)


def is_empty_config(path: str | Path) -> bool:
    """Whether the config file at `path` sets nothing (empty, or comments only)."""
    return not read_yaml_mapping(path)


def load_yaml_config(cls: type[ConfigT], path: str | Path) -> ConfigT:
    """Read a YAML file into `cls`, raising ConfigError for a bad file or any bad key."""
    return parse_config(cls, read_yaml_mapping(path), f"config {str(path)!r}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"a.b=value"` → (["a", "b"], value parsed as a YAML scalar, e.g. 3, 0.5, true, null)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r} must look like key.sub=value (e.g. seed=1)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {text!r} has an empty key part; use key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {error}") from None
    return parts, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `key.sub=value` override set (sections created)."""
    result: dict[str, Any] = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {text!r}: {where!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {str(k): _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def with_overrides(config: ConfigT, overrides: Sequence[str], where: str = "--set") -> ConfigT:
    """`config` with each `key.sub=value` override applied, validated again (ConfigError naming
    the dotted key of any problem); `config` itself when there are none."""
    if not overrides:
        return config
    data = apply_overrides(config.model_dump(mode="json"), overrides)
    return parse_config(type(config), data, where)
