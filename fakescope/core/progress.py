"""The one progress-callback signature every long-running library function takes.

``progress(advance=0, *, completed=None, total=None, description=None)``: ``advance`` counts items finished
since the last call; ``completed``/``total`` give the position outright (training steps); ``description`` says
what is running. The CLI's progress bar update has exactly this signature, so commands pass it as it is.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, advance: int = 0, *, completed: int | None = None, total: int | None = None,
                 description: str | None = None) -> None: ...
