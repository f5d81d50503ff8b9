"""A name → builder registry that refuses duplicates and names the known entries on a miss."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly instead
        return str(self.args[0])


class Registry(Generic[T]):
    """Entries registered by name, e.g. ``GANS = Registry("GAN family")``.

    Classes carry their own name (the attribute ``key``, ``name`` by default): ``@GANS.register`` files a class
    under it, so the name is written once, in the class.

    ``modules`` (name → module) makes the registry lazy: a name is known without importing anything, and its
    module, which registers it, is imported on first :meth:`get`. Listing names then never loads torch; a test
    checks the mapping against what the modules register.
    """

    def __init__(self, kind: str, *, key: str = "name", modules: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.key = key
        self.modules = dict(modules or {})
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, entry: T) -> T:
        """Class decorator: :meth:`add` ``entry`` under its own ``key`` attribute."""
        return self.add(getattr(entry, self.key), entry)

    def get(self, name: str) -> T:
        if name not in self._entries and name in self.modules:
            importlib.import_module(self.modules[name])  # registers it
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def load_all(self) -> None:
        """Import every lazily known module (each registers its entries)."""
        for module in self.modules.values():
            importlib.import_module(module)

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self.modules))

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self.modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
