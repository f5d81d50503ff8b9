"""The ``fakescope`` command line: parse, build a config, call one library function, print.

Each command group lives in its own module under ``fakescope/commands``; this file assembles them.
"""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from .commands import bench, corpus, demo, detectors, gan, score
from .console import fail

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
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

for module in (score, demo, detectors, bench):
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
            where = f"{exc.filename}: " if exc.filename else ""
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise fail(f"{where}{reason}".splitlines()[0], code=1) from None

    return run


for _typer in (app, gan.gan_app, corpus.corpus_app, detectors.detectors_app):
    for _info in _typer.registered_commands:
        _info.callback = _one_line_os_errors(_info.callback)


def main() -> None:
    app()
