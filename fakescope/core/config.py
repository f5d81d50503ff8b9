"""Config dataclasses and their overrides: which settings a config has, one check for the unknown ones, and one
for values of the wrong type (a ``--set`` typo or an edited config.json fails here, not deep inside training)."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from typing import Any, get_type_hints


def settings(config_cls: type) -> list[str]:
    """The field names of a config dataclass, sorted."""
    return sorted(f.name for f in fields(config_cls))


def unknown_settings(config_cls: type, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are not fields of ``config_cls``, sorted."""
    return sorted(set(names) - set(settings(config_cls)))


def with_overrides(config: Any, overrides: dict[str, Any], *, what: str) -> Any:
    """``config`` with ``overrides`` replaced; an unknown key or a value of the wrong type is a ValueError naming
    the setting. A nested config (``augment``) takes a dict of its own settings, the others kept."""
    unknown = unknown_settings(type(config), overrides)
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {', '.join(unknown)}; known: {', '.join(settings(type(config)))}")
    values = {}
    for key, value in overrides.items():
        current = getattr(config, key)
        if is_dataclass(current) and isinstance(value, dict):
            value = with_overrides(current, value, what=f"{what} {key}")
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    check_types(type(config), values)
    return replace(config, **values)


def check_types(config_cls: type, values: dict[str, Any]) -> None:
    """Raise ValueError naming the first of ``values`` whose type does not fit ``config_cls``'s annotation (ints
    where floats are expected are fine; a bool is not a number; floats must be finite)."""
    hints = get_type_hints(config_cls)
    for key, value in values.items():
        if not _fits(value, hints[key]):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise ValueError(f"setting {key}={shown}: expected {_describe(hints[key])}")


def check_ranges(what: str, **bounds: tuple[Any, float | None, float | None]) -> None:
    """``check_ranges("npr", crop=(self.crop, 8, 1024), lr=(self.lr, 0, None))``: ValueError naming the first
    value outside its closed interval (None: unbounded on that side)."""
    for key, (value, lo, hi) in bounds.items():
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"between {lo} and {hi}" if lo is not None and hi is not None else \
                (f"at least {lo}" if lo is not None else f"at most {hi}")
            raise ValueError(f"{what} {key}={value!r} must be {span}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        try:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        except OverflowError:  # an int too large for a float
            return False
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this check does not know: the config's own checks decide


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
             type(None): "null"}
    if hint in names:
        return names[hint]
    return f"a {getattr(hint, '__name__', hint)} (a dict of its settings)" if is_dataclass(hint) else str(hint)
