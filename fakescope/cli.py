"""The ``fakescope`` command line: parse, build a config, call one library function, print.

Each command group lives in its own module under ``fakescope/commands``; this file assembles them.
"""

from __future__ import annotations

import typer

from .commands import bench, corpus, demo, detectors, gan, score

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Find synthetic images: bundled GANs, labeled fake corpora, forensic detectors.")
for module in (score, demo, detectors, bench):
    app.registered_commands += module.app.registered_commands
app.add_typer(gan.gan_app, name="gan")
app.add_typer(corpus.corpus_app, name="corpus")
app.add_typer(detectors.detectors_app, name="detectors")


def main() -> None:
    app()
