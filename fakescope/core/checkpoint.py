"""Checkpoint folders: ``model.safetensors`` + ``config.json``. Loading never executes code.

``config.json`` carries the family, its config dataclass, the image format, the training source, the
fakescope version, ``sha256`` of the weights file and ``config_sha256``, the sha256 of config.json's own other
fields (canonical JSON, :func:`fakescope.core.safety.config_digest`); :func:`load_checkpoint` verifies both, so
neither the weights nor a setting such as a detector's threshold can be edited without notice. The weights file
must be a regular file of at most :data:`MAX_WEIGHTS_BYTES` (checked before it is opened).
Resume state (optimizers, step) lives in a separate ``train_state.pt`` read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from fakescope.core.config import check_types
from fakescope.core.safety import (
    UnsafeFileError,
    check_regular_file,
    config_digest,
    first_line,
    read_json_object,
)

from .imageio import atomic_path, sha256_bytes, write_bytes_atomic
from .version import fakescope_version

if TYPE_CHECKING:  # torch and safetensors load when weights are read or written, never to list checkpoints
    import torch

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1
#: A weights file larger than this is refused before it is read (the bundled ones are a few MB).
MAX_WEIGHTS_BYTES = 4 << 30
#: config.json larger than this is refused before it is read.
MAX_CONFIG_BYTES = 16 << 20


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, malformed, tampered with, or of the wrong kind."""


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
    try:
        check_types(cls, values)
    except ValueError as exc:
        raise CheckpointError(f"{cls.__name__}: {exc}") from None
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
    """Write a checkpoint folder atomically file by file, config.json last (until it is there, the folder is no
    checkpoint: a failed write never leaves one that looks whole); returns the weights' sha256.

    ``half`` stores floating-point tensors as fp16 (loaders upcast to the model's dtype).
    """
    from safetensors.torch import save as save_safetensors

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
    full.pop("config_sha256", None)
    full["config_sha256"] = config_digest(full)
    (folder / CONFIG_FILE).unlink(missing_ok=True)  # a write that fails below leaves no checkpoint, not a mixed one
    write_bytes_atomic(folder / WEIGHTS_FILE, data)
    write_json_atomic(folder / CONFIG_FILE, full)
    return digest


def update_meta(folder: str | os.PathLike, **fields: Any) -> dict:
    """Add or replace ``fields`` in a checkpoint's config.json (its hash checked first, then computed anew); the
    weights file is not touched. Returns the new meta."""
    folder = Path(folder)
    meta = read_meta(folder)
    check_config_hash(folder, meta)
    meta.update(fields)
    meta.pop("config_sha256", None)
    meta["config_sha256"] = config_digest(meta)
    write_json_atomic(folder / CONFIG_FILE, meta)
    return meta


def read_meta(folder: str | os.PathLike) -> dict:
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a checkpoint folder (no {CONFIG_FILE})")
    try:
        return read_json_object(path, MAX_CONFIG_BYTES)
    except ValueError as exc:  # UnsafeFileError included
        raise CheckpointError(f"{path}: {exc}") from None


def check_config_hash(folder: str | os.PathLike, meta: dict) -> None:
    """Refuse a config.json whose fields do not match its ``config_sha256`` (edited by hand, or damaged)."""
    stored = meta.get("config_sha256")
    if not isinstance(stored, str):
        raise CheckpointError(f"{folder}: {CONFIG_FILE} has no config_sha256, so its settings cannot be checked "
                              "(re-save the checkpoint with this version of fakescope)")
    try:
        actual = config_digest(meta)
    except ValueError as exc:  # NaN or infinity
        raise CheckpointError(f"{folder}: {CONFIG_FILE} holds a value that is not valid JSON ({exc})") from None
    if actual != stored:
        raise CheckpointError(f"{folder}: {CONFIG_FILE} does not match its config_sha256 (edited after it was "
                              "saved): refusing its settings")


def load_checkpoint(folder: str | os.PathLike, *, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load ``(tensors, meta)``; checks the content hash and, when given, the checkpoint ``kind``."""
    from safetensors.torch import load as load_safetensors

    folder = Path(folder)
    meta = read_meta(folder)
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{folder}: is a {meta.get('kind', 'unknown')!r} checkpoint, expected {kind!r}")
    check_config_hash(folder, meta)
    try:
        check_regular_file(folder / WEIGHTS_FILE, MAX_WEIGHTS_BYTES)  # never open a FIFO or device
        data = (folder / WEIGHTS_FILE).read_bytes()
    except UnsafeFileError as exc:
        raise CheckpointError(f"{folder}: {WEIGHTS_FILE}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot read {WEIGHTS_FILE} ({exc.strerror})") from None
    if meta.get("sha256") and sha256_bytes(data) != meta["sha256"]:
        raise CheckpointError(f"{folder}: {WEIGHTS_FILE} does not match the sha256 in {CONFIG_FILE}")
    try:
        return load_safetensors(data), meta
    except Exception as exc:  # safetensors raises its own error type for malformed files
        raise CheckpointError(f"{folder}: {WEIGHTS_FILE} is not a readable safetensors file ({exc})") from None


MAX_STATE_BYTES = 16 << 30


class TrainingStateError(ValueError):
    """A training state file (``--resume``) that is missing, not a regular file, unreadable, truncated or foreign."""


class _Recorder:
    """A file's ``write`` that remembers the OSError it raised: torch.save turns it into a RuntimeError naming
    only its own source line."""

    def __init__(self, f) -> None:
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.f.flush()


def save_training_state(path: str | os.PathLike, state: dict) -> None:
    """Write a training state (``--resume``) with ``torch.save``, atomically: a kill leaves the previous one, and a
    failed write (a full disk) is a :class:`~fakescope.core.imageio.WriteError` naming ``path``."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        out = _Recorder(f)
        try:
            torch.save(state, out)
        except RuntimeError:
            if out.error is not None:
                raise out.error from None
            raise


def load_tensor_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain data, never code. A file of anything else (objects
    whose loading would run code, or not a PyTorch file at all) is a ValueError with a one-line reason that does
    not suggest loading it the other way; torch's warnings about the file are not passed on."""
    import pickle
    import re
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+?)(?:\.\s*Please use|\n|$)", str(exc))
        raise ValueError("not tensors and plain data that load without running code"
                         + (f" ({detail.group(1).strip()})" if detail else "")) from None


def read_training_state(path: str | os.PathLike, *, map_location: Any = "cpu", required: tuple[str, ...] = ()) -> dict:
    """A training state written by ``torch.save`` (tensors and plain data) read with ``weights_only=True`` (never
    code), after checking it is a regular file of bounded size; a dict holding ``required``, or
    :class:`TrainingStateError` (one line, naming the file)."""
    try:
        check_regular_file(path, MAX_STATE_BYTES)
        state = load_tensor_file(path, map_location)
    except UnsafeFileError as exc:
        raise TrainingStateError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 — truncated or foreign files fail in many ways inside torch.load
        raise TrainingStateError(f"{path}: unreadable or truncated ({first_line(exc)})") from None
    if not isinstance(state, dict) or any(key not in state for key in required):
        raise TrainingStateError(f"{path}: not a training state")
    return state


def is_checkpoint_folder(path: str | os.PathLike, kind: str) -> bool:
    """Whether ``path`` holds a checkpoint of ``kind`` and nothing else (what ``--overwrite`` may replace)."""
    from fakescope.core.safety import only_names

    path = Path(path)
    if not only_names(path, lambda n: n in (CONFIG_FILE, WEIGHTS_FILE)):
        return False
    try:
        return read_meta(path).get("kind") == kind
    except CheckpointError:
        return False


def bundled_root(package: str) -> Path:
    """The folder holding a package's bundled checkpoints (``<package>/weights``)."""
    import importlib

    return Path(importlib.import_module(package).__file__).parent / "weights"


def list_bundled(package: str) -> list[str]:
    root = bundled_root(package)
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def looks_like_path(text: str) -> bool:
    """Whether a name given for a checkpoint is a path: ``./x``, ``../x``, ``/x``, ``~/x`` or with a separator."""
    return text.startswith((".", "/", "~")) or "/" in text or os.sep in text or (os.altsep or "/") in text


def as_path_text(path: str | os.PathLike) -> str:
    """A checkpoint folder written as the command line takes it back: ``det1`` → ``./det1`` (a bare name would be
    read as a bundled name)."""
    text = os.fspath(path)
    return text if looks_like_path(text) else f".{os.sep}{text}"


def resolve_checkpoint(name_or_dir: str | os.PathLike, package: str) -> Path:
    """A checkpoint folder from a bundled name (``vanilla-digits``) or a path.

    A bare name (no separator, not starting with ``.``, ``/`` or ``~``) is a bundled name only: a folder of that
    name in the working directory never replaces a bundled checkpoint, and a bare name that is both is an error.
    A path must look like one (``./x``, ``/x``, ``runs/x``); a ``Path`` object is always a path.
    """
    text = os.fspath(name_or_dir)
    as_path = not isinstance(name_or_dir, str) or looks_like_path(text)
    if as_path:
        path = Path(text).expanduser()
        if (path / CONFIG_FILE).is_file():
            return path
        why = f"not a checkpoint folder (no {CONFIG_FILE})" if path.is_dir() else \
            ("not a folder" if path.exists() else "no such folder")
        raise CheckpointError(f"no checkpoint {text!r}: {why}")
    bundled = bundled_root(package) / text
    local = Path(text)
    local_here = local.is_dir() and (local / CONFIG_FILE).is_file()
    if (bundled / CONFIG_FILE).is_file():
        if local_here:
            raise CheckpointError(f"{text!r} is ambiguous: a bundled checkpoint and a folder here; write ./{text} "
                                  f"for the folder (or run elsewhere for the bundled one)")
        return bundled
    known = ", ".join(list_bundled(package)) or "none"
    hint = f"; for the folder here write ./{text}" if local.exists() else ""
    raise CheckpointError(f"no checkpoint {text!r}: not a bundled name ({known}){hint}")
