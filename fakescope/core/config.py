"""Config dataclasses and their overrides: which settings a config has, and one check for the unknown ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any


def settings(config_cls: type) -> list[str]:
    """The field names of a config dataclass, sorted."""
    return sorted(f.name for f in fields(config_cls))


def unknown_settings(config_cls: type, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are not fields of ``config_cls``, sorted."""
    return sorted(set(names) - set(settings(config_cls)))


def with_overrides(config: Any, overrides: dict[str, Any], *, what: str) -> Any:
    """``config`` with ``overrides`` replaced; an unknown key is a ValueError naming the known settings."""
    unknown = unknown_settings(type(config), overrides)
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {', '.join(unknown)}; known: {', '.join(settings(type(config)))}")
    return replace(config, **overrides)
