"""Helpers of the hostile-input tests: the CLI runner, one-line error checks, a watchdog for hangs."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


def invoke(*args, input: str | None = None):
    """Run the CLI in-process; an uncaught exception (a traceback for a user) fails the test."""
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def one_error_line(result) -> str:
    """The single ``error:`` line of a failed command (asserting there is exactly one and no traceback)."""
    text = result.output
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


class Unblocker:
    """Watch a FIFO: if something blocks opening it for reading, open its write end so that the reader gets an
    end of file instead of hanging the test forever, and remember that it had to (``needed``)."""

    def __init__(self, fifo: Path, after_s: float = 3.0) -> None:
        self.fifo, self.after_s = fifo, after_s
        self.needed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.after_s):
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no reader waiting: nothing blocks on it
                    continue
                return
            self.needed = True
            os.close(fd)

    def __enter__(self) -> Unblocker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=10)
