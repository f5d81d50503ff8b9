"""The ``fakescope`` command line: parse, build a config, call one library function, print.

Each command group lives in its own module under ``fakescope/commands``; this file assembles them.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from .commands import adapt, bench, corpus, demo, detectors, gan, score
from .console import error_line, fail


def _click_class(name: str) -> type[Exception]:
    """A base class of typer's public ``BadParameter`` by name: the exceptions of the click that typer runs on (its
    own private copy since typer 0.26, the click package before), reached without importing either."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_UsageError, _ClickException = _click_class("UsageError"), _click_class("ClickException")


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a bad value, a missing argument) as the tool's own errors are: one line,
    ``error: ...`` naming the option, exit status 2, instead of click's multi-line box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as before
                exc.show()
            else:
                where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
                error_line(" ".join(exc.format_message().split()) + where)
            code = exc.exit_code
        except _ClickException as exc:  # a bad file argument and the like
            error_line(" ".join(exc.format_message().split()))
            code = exc.exit_code
        except typer.Abort:
            error_line("aborted")
            code = 1
        sys.exit(code if isinstance(code, int) else 0)


class _OneValueEach(TyperCommand):
    """An option that takes one value, given twice (``score -d A -d B``), is a usage error: click would silently
    keep the last one. Repeatable options (lists) and flags are not concerned."""

    def make_parser(self, ctx):
        parser = super().make_parser(ctx)
        parse = parser.parse_args

        def parse_once(args):
            opts, rest, order = parse(args)
            seen = set()
            for param in order:  # each occurrence on the command line, in order
                if getattr(param, "multiple", True) or getattr(param, "is_flag", True) or getattr(param, "count", 0):
                    continue
                if param.name in seen:
                    raise _UsageError(f"{'/'.join(param.opts)} given more than once: it takes one value", ctx)
                seen.add(param.name)
            return opts, rest, order

        parser.parse_args = parse_once
        return parser


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Find synthetic images: bundled GANs, labeled fake corpora, forensic detectors.")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fakescope {version('fakescope')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the installed version and exit.")] = False,
) -> None:
    """Find synthetic images: bundled GANs, labeled fake corpora, forensic detectors."""

for module in (score, demo, detectors, adapt, bench):
    app.registered_commands += module.app.registered_commands
app.add_typer(gan.gan_app, name="gan")
app.add_typer(corpus.corpus_app, name="corpus")
app.add_typer(detectors.detectors_app, name="detectors")


def _one_line_os_errors(command):
    """A file-system failure in the middle of the work (a full disk, a folder made read-only, a file vanished) is
    one ``error:`` line and exit status 1, never a traceback; what could be checked before the work already was."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OSError as exc:
            from fakescope.core.imageio import WriteError  # loaded by then: what failed was writing or reading

            if isinstance(exc, WriteError):  # "cannot write PATH: no space left on device"
                raise fail(str(exc), code=1) from None
            where = f"{exc.filename}: " if exc.filename else ""
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise fail(f"{where}{reason}".splitlines()[0], code=1) from None

    return run


for _typer in (app, gan.gan_app, corpus.corpus_app, detectors.detectors_app):
    for _info in _typer.registered_commands:
        _info.callback = _one_line_os_errors(_info.callback)
        if _info.cls in (None, TyperCommand):
            _info.cls = _OneValueEach


def main() -> None:
    app(prog_name="fakescope")  # also under `python -m fakescope` and torchrun: one name, one completion variable
