"""Terminal helpers for the CLI: devices, ``--set key=value`` overrides, progress bars, tables."""

from __future__ import annotations

import io
import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from fakescope.core.config import settings, unknown_settings

if TYPE_CHECKING:
    import torch

err = Console(stderr=True)
out = Console()


def error_line(message: str) -> None:
    """Print ``error: message`` on stderr, as one line that is never wrapped (under torchrun: by rank 0, which
    hears of every rank's failure)."""
    if not is_main_rank():
        return
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    error_line(message)
    return typer.Exit(code)


def fail_on(exc: Exception) -> typer.Exit:
    """A library error as one line: exit status 1 when the data or the file system refused (a file that must not
    be read, a folder that cannot be written), 2 when what was asked cannot be done (a usage error)."""
    from fakescope.core.safety import SafetyError

    return fail(str(exc), code=1 if isinstance(exc, (SafetyError, OSError)) else 2)


def check_output(path, option: str = "--output") -> None:
    """Refuse, before any work, an output file whose folder is missing or cannot be written, that names a
    folder, or that exists and is not a regular file (a device or FIFO is never written over)."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{option} {path}: is a folder; give a file name")
    if not path.parent.resolve().is_dir():
        raise fail(f"{option} {path}: folder {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise fail(f"{option} {path}: exists and is not a regular file", code=1)
    check_writable_folder(path.parent, option)


def check_writable_folder(path, option: str = "--out") -> None:
    """Refuse, before any work and with exit status 1, an output folder that cannot be written."""
    from fakescope.core.safety import OutputFolderError
    from fakescope.core.safety import check_writable_folder as check

    try:
        check(path, option)
    except OutputFolderError as exc:
        raise fail(str(exc), code=1) from None


def check_output_folder(path, *, what: str, overwrite: bool, is_previous=None, option: str = "--out") -> bool:
    """Refuse, before any work, an output folder that is not new or empty (``--overwrite`` replaces only a
    previous ``what``) or cannot be written; exit status 1. Returns whether a previous result is replaced."""
    from fakescope.core.safety import OutputFolderError
    from fakescope.core.safety import check_output_folder as check

    try:
        return check(path, what=what, overwrite=overwrite, is_previous=is_previous, option=option)
    except OutputFolderError as exc:
        raise fail(str(exc), code=1) from None


def resolve_device(spec: str) -> torch.device:
    """``auto`` takes CUDA when present; ``cpu``, ``cuda``, ``cuda:N`` as given (checked). Under torchrun, ``auto``
    and a bare ``cuda`` give each rank its own GPU, ``cuda:LOCAL_RANK``."""
    import torch  # here, not at the top: --help and the list commands never load torch

    from fakescope.core.distributed import local_device

    if spec == "auto":
        return local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise fail(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"device {spec!r} asked for, but CUDA is not available here")
    return local_device(device)


def join_ranks(device: torch.device, *, tensors: bool = True):
    """Under torchrun (more than one process): join the process group (NCCL on CUDA, gloo on the CPU; gloo only
    with ``tensors=False``, when only objects travel) and leave it when the command exits. Returns the
    :class:`~fakescope.core.distributed.Ranks` (one process: ``Ranks()``, nothing started)."""
    import atexit

    from fakescope.core import distributed

    try:
        ranks = distributed.init(device, tensors=tensors)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if ranks.active:
        atexit.register(distributed.shutdown)
    return ranks


def is_main_rank() -> bool:
    """Whether this process prints and writes shared outputs: rank 0, or the only process."""
    import os

    return os.environ.get("RANK", "0") == "0"


def parse_overrides(items: list[str] | None, config_cls: type) -> dict:
    """``["epochs=5", "lr=1e-3"]`` → ``{"epochs": 5, "lr": 0.001}``, checked against ``config_cls``'s fields."""
    result = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise fail(f"--set expects key=value, got {item!r}")
        if unknown_settings(config_cls, [key]):
            raise fail(f"unknown setting {key!r}; known: {', '.join(settings(config_cls))}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        result[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return result


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator:
    """A rich progress bar on a terminal; silent in pipes or when ``enabled`` is false.

    Yields ``update(advance=0, completed=None, description=None, total=None)``.
    """
    show = enabled and sys.stderr.isatty() and is_main_rank()  # under torchrun: rank 0's bar only
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err, disable=not show, transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def update(advance: int = 0, completed: int | None = None, description: str | None = None,
                   total: int | None = None) -> None:
            kw = {"description": description} if description is not None else {}
            if total is not None:
                kw["total"] = total
            if completed is not None:
                progress.update(task, completed=completed, **kw)
            else:
                progress.update(task, advance=advance, **kw)

        yield update


def metrics_table(title: str, rows: dict[str, dict], columns: tuple[str, ...] = (
        "n", "ap", "roc_auc", "accuracy", "real_accuracy", "fake_accuracy"),
        headers: tuple[str, ...] | None = None) -> Table:
    """A table with one row per named metrics dict; ``headers`` names the columns (default: the keys)."""
    table = Table(title=title)
    table.add_column("")
    for h in headers or columns:
        table.add_column(h, justify="right", no_wrap=True)
    for name, m in rows.items():
        table.add_row(name, *(_fmt(m.get(c)) for c in columns))
    return table


def table_text(table: Table) -> str:
    """A rich table as plain text, 160 columns wide (for ``--output`` files)."""
    console = Console(file=io.StringIO(), width=160, color_system=None, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


# --- options shared by several commands -------------------------------------------------------------------------

DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (auto takes CUDA when present).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for everything random.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value (repeatable).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def command_line(ctx: typer.Context) -> str:
    """The running command with every value given on the command line, recorded in checkpoints and runs."""
    names, c = [], ctx  # the subcommands' names: the root's may be "python -m fakescope" or a script's path
    while c.parent is not None:
        names.append(c.info_name)
        c = c.parent
    words = ["fakescope", *reversed(names)]
    options: list[str] = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        values = value if isinstance(value, (list, tuple)) else [value]
        values = [str(v.value if isinstance(v, Enum) else v) for v in values]
        if param.param_type_name == "argument":
            words += values
        elif getattr(param, "is_flag", False):
            options.append(param.opts[0] if value else (param.secondary_opts or param.opts)[0])
        else:
            for v in values:
                options += [param.opts[0], v]
    return shlex.join(words + options)
