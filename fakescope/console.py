"""Terminal helpers for the CLI: devices, ``--set key=value`` overrides, progress bars, tables."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from fakescope.core.config import settings, unknown_settings

if TYPE_CHECKING:
    import torch

err = Console(stderr=True)
out = Console()


def _as_text(message: object) -> str:
    """``message`` as text any output can hold: bytes of file names that are not UTF-8 (lone surrogates) written
    ``\\xff`` as :func:`fakescope.core.safety.shown_path` writes them."""
    text = str(message)
    if text.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    return "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else
                   f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}" for c in text)


def say(message: object = "", *, stderr: bool = False, style: str = "") -> None:
    """Print a line for people on stdout (or stderr) exactly as written: never read as rich markup (a file name
    or a message holding ``[...]`` keeps its brackets), never highlighted, never wrapped at the console's width
    (a pipe gets one line per message, however long). Every message of the CLI goes through here or
    :func:`error_line`."""
    (err if stderr else out).print(Text(_as_text(message), style=style), highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """Print ``error: message`` on stderr, as one line that is never wrapped and never read as markup (under
    torchrun: by rank 0, which hears of every rank's failure)."""
    if not is_main_rank():
        return
    err.print(Text.assemble(("error:", "red"), " ", _as_text(message)), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    error_line(message)
    return typer.Exit(code)


def fail_on(exc: Exception) -> typer.Exit:
    """A library error as one line: exit status 1 when the data or the file system refused (a file that must not
    be read, a folder that cannot be written), 2 when what was asked cannot be done (a usage error)."""
    from fakescope.core.safety import NothingFoundError, SafetyError

    return fail(str(exc), code=1 if isinstance(exc, (SafetyError, NothingFoundError, OSError)) else 2)


def output_file(text: str) -> Path:
    """An output file option's value (``parser=`` of ``--output``, ``--plot``): a path that ends with ``/`` names
    a folder, which would otherwise become a file of that name (``Path`` drops the slash)."""
    if text != "-" and text.endswith(("/", os.sep)):
        raise typer.BadParameter(f"{text} ends with '/': it names a folder; give a file name")
    return Path(text)


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


def check_outputs_apart(outputs: dict, inputs=(), *, folders=()) -> None:
    """Refuse, with exit status 1, outputs that are, hold or lie inside what the command reads, or that name one
    place twice (:func:`fakescope.core.safety.check_outputs_apart`)."""
    from fakescope.core.safety import OutputClashError
    from fakescope.core.safety import check_outputs_apart as check

    try:
        check(outputs, inputs, folders=folders)
    except OutputClashError as exc:
        raise fail(str(exc), code=1) from None


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
        raise fail(f"--device {spec!r}: unknown device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"--device {spec!r}: CUDA is not available here")
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


def refuse_under_torchrun(command: str) -> None:
    """Commands that do not split their work across processes say so, instead of running N times into one output."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise fail(f"{command} does not split its work across processes: run it without torchrun")


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


class RateColumn(ProgressColumn):
    """Items per second over the last half minute (``12.5 images/s``; ``-`` until the first items are done)."""

    def __init__(self, unit: str) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"- {self.unit}/s")
        return Text(f"{speed:.3g} {self.unit}/s" if speed < 100 else f"{speed:,.0f} {self.unit}/s")


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True, unit: str = "items") -> Iterator:
    """A rich progress bar on a terminal (what runs, done/total, rate in ``unit``/s, time taken and left); silent
    in pipes or when ``enabled`` is false. The description is shown as written (never read as markup).

    Yields ``update(advance=0, completed=None, description=None, total=None)``.
    """
    show = enabled and sys.stderr.isatty() and is_main_rank()  # under torchrun: rank 0's bar only
    progress = Progress(
        TextColumn("{task.description}", markup=False,  # what runs: cut (…) to leave the numbers room
                   table_column=Column(overflow="ellipsis", no_wrap=True, max_width=max(12, err.width - 56))),
        BarColumn(bar_width=20, table_column=Column(min_width=10)),
        MofNCompleteColumn(table_column=Column(no_wrap=True)), RateColumn(unit),
        TimeElapsedColumn(table_column=Column(no_wrap=True)), TimeRemainingColumn(table_column=Column(no_wrap=True)),
        console=err, disable=not show, transient=False,
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


METRIC_HEADERS = {"n": "images", "ap": "AP", "roc_auc": "ROC-AUC", "accuracy": "acc.", "real_accuracy": "real acc.",
                  "fake_accuracy": "fake acc.", "ece": "ECE", "threshold": "threshold", "eer": "EER"}


def printable(text: object) -> str:
    """``text`` on one line: control characters (a newline in a file name, an escape sequence) written as
    escapes, so one input is one row and nothing reaches the terminal raw."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


@dataclass
class Grid:
    """A table for people: cells are plain text (escaped by :func:`printable`); the ``keep`` columns (names, paths,
    what people type) are never cut. On a terminal it is a rich table (the other columns wrap); in a pipe or a
    file, aligned plain columns as wide as their content, one line per row."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""
    keep: tuple[str, ...] = ()  # headers of the columns never cut
    right: tuple[str, ...] = ()  # headers of right-aligned (numeric) columns
    styles: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) → rich style, terminal only

    def add_row(self, *cells: object, styles: dict[int, str] | None = None) -> None:
        for col, style in (styles or {}).items():
            self.styles[(len(self.rows), col)] = style
        self.rows.append([printable(c) for c in cells])

    def _longest(self, i: int) -> int:
        return max([len(self.headers[i]), *(len(r[i]) for r in self.rows)])

    def narrowest(self) -> int:
        """The narrowest rich table: names and numbers whole, other columns wrapped at their longest word."""
        widths = [self._longest(i) if h in self.keep or h in self.right else
                  max([len(w) for c in [h, *(r[i] for r in self.rows)] for w in c.split()] or [1])
                  for i, h in enumerate(self.headers)]
        return sum(widths) + 3 * len(widths) + 1  # padding and borders

    def plain(self) -> str:
        widths = [max([len(h), *(len(r[i]) for r in self.rows)]) for i, h in enumerate(self.headers)]

        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if h in self.right else c.ljust(w)
                             for c, w, h in zip(cells, widths, self.headers, strict=True)).rstrip()

        lines = [self.title] if self.title else []
        lines += [line(self.headers), *(line(r) for r in self.rows)]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        """The rows as CSV under the same headers (for ``--format csv``; formula-like cells neutralised)."""
        from fakescope.core.csvfile import csv_text

        return csv_text(self.headers, self.rows)

    def rich(self):
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=escape(self.title) if self.title else None)
        for i, h in enumerate(self.headers):
            if h in self.keep or h in self.right:  # names and numbers: a fixed width, never collapsed or split
                table.add_column(h, justify="right" if h in self.right else "left", no_wrap=True,
                                 width=self._longest(i))
            else:
                table.add_column(h, overflow="fold")
        for r, row in enumerate(self.rows):
            cells = [escape(c) for c in row]
            table.add_row(*(f"[{self.styles[(r, c)]}]{x}[/]" if (r, c) in self.styles else x
                            for c, x in enumerate(cells)))
        return table


def show(grid: Grid, console: Console | None = None) -> None:
    """Print ``grid``: a rich table on a terminal, plain columns in a pipe (nothing cut, one line per row)."""
    console = console or out
    if console.is_terminal and grid.narrowest() <= console.width:
        console.print(grid.rich())  # names and numbers whole, the other columns wrapped to fit
    else:  # a pipe, a file, or a terminal too narrow for the names: plain lines the terminal may wrap
        console.file.write(grid.plain())
        console.file.flush()


def metrics_table(title: str, rows: dict[str, dict], columns: tuple[str, ...] = (
        "n", "ap", "roc_auc", "accuracy", "real_accuracy", "fake_accuracy"),
        headers: tuple[str, ...] | None = None, first: str = "") -> Grid:
    """One row per named metrics dict; ``headers`` names the columns (default: words for the keys)."""
    headers = headers or tuple(METRIC_HEADERS.get(c, c) for c in columns)
    grid = Grid([first, *headers], title=title, keep=(first,), right=headers)
    for name, m in rows.items():
        grid.add_row(name, *(_fmt(m.get(c)) for c in columns))
    return grid


def table_text(grid: Grid) -> str:
    """A table as plain text (for ``--output`` files): nothing cut, one line per row."""
    return grid.plain()


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def examples(*lines: str) -> str:
    """A command's help epilog (``@app.command(epilog=examples(...))``): one or two examples of its use, printed
    as written at the end of ``--help`` (never rewrapped)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


# --- options shared by several commands -------------------------------------------------------------------------

DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (auto takes CUDA when present).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for everything random.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value (repeatable).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(str, Enum):
    """For commands whose output is one record, not rows: CSV is not offered."""
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (for people), json or csv.")]
TableOrJsonOpt = Annotated[TableOrJson, typer.Option("--format", "-f", help="table (for people) or json.")]
#: ``--format`` beside ``--output``: when not given, :func:`output_format` takes the file's suffix.
OutputFormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", show_default=False,
    help="table (for people), json or csv (default: --output's suffix, .json or .csv, else table).")]


def output_format(format: Format | None, output: Path | None) -> Format:
    """``--format`` as given; when it is not, an ``--output`` file ending in ``.json`` or ``.csv`` says which,
    and anything else is a table."""
    if format is not None:
        return format
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return Format(suffix) if suffix in (Format.json.value, Format.csv.value) else Format.table


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
