"""The installed fakescope version, read from the package metadata (cheap: no torch, nothing else of ours)."""

from __future__ import annotations

from importlib import metadata


def fakescope_version() -> str:
    try:
        return metadata.version("fakescope")
    except metadata.PackageNotFoundError:
        return "unknown"
