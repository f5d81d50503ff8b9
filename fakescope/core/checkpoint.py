"""Checkpoint folders: ``model.safetensors`` + ``config.json``. Loading never executes code.

``config.json`` carries the family, its config dataclass, the image format, the training source, the
fakescope version and ``sha256`` of the weights file, which :func:`load_checkpoint` verifies.
Resume state (optimizers, step) lives in a separate ``train_state.pt`` read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, get_type_hints

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .imageio import sha256_bytes, write_bytes_atomic

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, malformed, tampered with, or of the wrong kind."""


def fakescope_version() -> str:
    try:
        return metadata.version("fakescope")
    except metadata.PackageNotFoundError:
        return "unknown"


def config_to_dict(config: Any) -> dict:
    """A frozen config dataclass as JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))


def config_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config dataclass, turning lists back into tuples; unknown keys are an error."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise CheckpointError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
    hints = get_type_hints(cls)
    values = {}
    for k, v in data.items():
        if is_dataclass(hints[k]) and isinstance(v, dict):
            v = config_from_dict(hints[k], v)
        elif isinstance(v, list):
            v = tuple(v)
        values[k] = v
    return cls(**values)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def save_checkpoint(
    folder: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    meta: dict,
    *,
    half: bool = False,
) -> str:
    """Write a checkpoint folder atomically file by file; returns the weights' sha256.

    ``half`` stores floating-point tensors as fp16 (loaders upcast to the model's dtype).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prepared = {}
    for name, t in tensors.items():
        t = t.detach().cpu()
        if half and t.is_floating_point():
            t = t.half()
        prepared[name] = t.contiguous().clone()
    data = save_safetensors(prepared, metadata={"format": "pt"})
    digest = sha256_bytes(data)
    if is_dataclass(meta.get("config")):
        meta = {**meta, "config": config_to_dict(meta["config"])}
    full = {**meta, "format_version": FORMAT_VERSION, "fakescope_version": fakescope_version(), "sha256": digest}
    write_bytes_atomic(folder / WEIGHTS_FILE, data)
    write_json_atomic(folder / CONFIG_FILE, full)
    return digest


def read_meta(folder: str | os.PathLike) -> dict:
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a checkpoint folder (no {CONFIG_FILE})")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None


def load_checkpoint(folder: str | os.PathLike, *, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load ``(tensors, meta)``; checks the content hash and, when given, the checkpoint ``kind``."""
    folder = Path(folder)
    meta = read_meta(folder)
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{folder}: is a {meta.get('kind', 'unknown')!r} checkpoint, expected {kind!r}")
    try:
        data = (folder / WEIGHTS_FILE).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot read {WEIGHTS_FILE} ({exc.strerror})") from None
    if meta.get("sha256") and sha256_bytes(data) != meta["sha256"]:
        raise CheckpointError(f"{folder}: {WEIGHTS_FILE} does not match the sha256 in {CONFIG_FILE}")
    try:
        return load_safetensors(data), meta
    except Exception as exc:  # safetensors raises its own error type for malformed files
        raise CheckpointError(f"{folder}: {WEIGHTS_FILE} is not a readable safetensors file ({exc})") from None


def bundled_root(package: str) -> Path:
    """The folder holding a package's bundled checkpoints (``<package>/weights``)."""
    import importlib

    return Path(importlib.import_module(package).__file__).parent / "weights"


def list_bundled(package: str) -> list[str]:
    root = bundled_root(package)
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def resolve_checkpoint(name_or_dir: str | os.PathLike, package: str) -> Path:
    """A checkpoint folder from a bundled name (``vanilla-digits``) or a path."""
    path = Path(name_or_dir)
    if (path / CONFIG_FILE).is_file():
        return path
    bundled = bundled_root(package) / str(name_or_dir)
    if (bundled / CONFIG_FILE).is_file():
        return bundled
    known = ", ".join(list_bundled(package)) or "none"
    raise CheckpointError(f"no checkpoint {str(name_or_dir)!r}: not a checkpoint folder nor a bundled name ({known})")
