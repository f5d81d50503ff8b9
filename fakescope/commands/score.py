"""``fakescope score``: score images (and, later, video frames) from files, folders and stdin."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Format,
    err,
    fail,
    out,
    progress_bar,
    resolve_device,
)

app = typer.Typer()  # top-level commands: merged into the main app

@app.command()
def score(
    paths: Annotated[list[str], typer.Argument(help="Image files or folders (recursive); '-' reads paths from stdin.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the output to this file.")] = None,
    detector: Annotated[str, typer.Option("--detector", "-d", help="Bundled detector name or checkpoint folder.")] = "",
    threshold: Annotated[float | None, typer.Option(help="Decision threshold (default: the detector's).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    device: DeviceOpt = "auto",
) -> None:
    """Score images: the probability that each is synthetic. Exit 1 when some input could not be read."""
    from detector.base import DEFAULT_DETECTOR, load_detector
    from detector.scoring import iter_scores
    from generators.checkpoint import CheckpointError

    if "-" in paths:
        paths = [p for p in paths if p != "-"] + [line.strip() for line in sys.stdin if line.strip()]
    dev = resolve_device(device)
    try:
        det = load_detector(detector or DEFAULT_DETECTOR)
    except (CheckpointError, KeyError) as exc:
        raise fail(str(exc)) from None
    records = []
    with progress_bar("scoring", None, enabled=format == Format.table and output is None) as update:
        for rec in iter_scores(paths, det, threshold=threshold, batch_size=batch_size, device=dev,
                               progress=lambda n: update(advance=n)):
            records.append(rec)
    text = render_records(records, format)
    if output is not None:
        output.write_text(text)
    elif format == Format.table:
        out.print(records_table(records))
    else:
        sys.stdout.write(text)
    bad = sum(r["error"] is not None for r in records)
    if bad:
        err.print(f"{bad} of {len(records)} input(s) could not be read", highlight=False)
        raise typer.Exit(1)


def render_records(records: list[dict], format: Format) -> str:
    if format == Format.json:
        return json.dumps(records, indent=2) + "\n"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "kind", "score", "label", "error"])
    for r in records:
        writer.writerow([r["path"], r["kind"], "" if r["score"] is None else f"{r['score']:.6f}",
                         r["label"] or "", r["error"] or ""])
    return buf.getvalue()


def records_table(records: list[dict]):
    from rich.table import Table

    table = Table()
    for col in ("path", "kind", "score", "label", "error"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for r in records:
        label = r["label"] or ""
        style = {"fake": "red", "real": "green"}.get(label, "")
        table.add_row(r["path"], r["kind"], "-" if r["score"] is None else f"{r['score']:.4f}",
                      f"[{style}]{label}[/{style}]" if style else label, r["error"] or "")
    return table
