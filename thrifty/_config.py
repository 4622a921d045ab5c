"""Base class for user-facing configs and the translation of pydantic errors into ConfigError."""

from __future__ import annotations

from collections.abc import Mapping
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
    """Read a YAML file holding a mapping; a missing file or bad YAML is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return dict(data)


def load_yaml_config(cls: type[ConfigT], path: str | Path) -> ConfigT:
    """Read a YAML file into `cls`, raising ConfigError for a bad file or any bad key."""
    return parse_config(cls, read_yaml_mapping(path), f"config {str(path)!r}")
