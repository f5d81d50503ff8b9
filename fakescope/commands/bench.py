"""``fakescope bench``: detectors × generators × perturbations on labeled corpora → one report."""

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
    SeedOpt,
    check_output,
    command_line,
    err,
    error_line,
    fail,
    out,
    progress_bar,
    resolve_device,
    table_text,
)

app = typer.Typer()  # top-level command: merged into the main app

DEFAULT_PERTURBATIONS = ("none", "jpeg:75", "blur:1")
COLUMNS = ("detector", "perturbation", "generator", "fakes", "reals", "ap", "roc_auc", "fake_accuracy",
           "real_accuracy", "threshold")


@app.command("bench")
def bench_command(
    ctx: typer.Context,
    corpus: Annotated[list[Path], typer.Option("--corpus", help="Corpus folder (repeatable); generators are told "
                                                                "apart by each fake's manifest origin.")],
    detector: Annotated[list[str] | None, typer.Option(
        "--detector", help="Bundled detector name or checkpoint folder (repeatable; default: every bundled one).",
    )] = None,
    perturb: Annotated[list[str] | None, typer.Option(
        "--perturb", help="none, jpeg:QUALITY, blur:SIGMA or noise:SIGMA, applied to real and fake images alike "
                          f"(repeatable; default: {', '.join(DEFAULT_PERTURBATIONS)}).",
    )] = None,
    split: Annotated[str, typer.Option(help="Corpus split to score: test, val or train.")] = "test",
    format: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Benchmark detectors against the generators of labeled corpora, clean and perturbed.

    Each generator's fakes are ranked against every real image of the split (AP, ROC-AUC); the shares of fakes
    caught and reals passed are read at each detector's calibrated threshold. Exit status: 0 when every corpus
    and detector could be used, 1 when some could not (each gets an error line; the rest are still benchmarked),
    2 on a usage error.
    """
    from fakescope.core.checkpoint import CheckpointError, bundled_root, list_bundled
    from fakescope.core.corpus import CorpusError
    from fakescope.core.perturb import parse_perturbation
    from fakescope.detector.base import load_detector
    from fakescope.detector.bench import bench
    from fakescope.detector.data import ImageSet, load_split

    if split not in ("train", "val", "test"):
        raise fail(f"--split {split!r}: use test, val or train")
    check_output(output)
    try:
        perturbations = [None if p.strip().lower() == "none" else parse_perturbation(p)
                         for p in perturb or DEFAULT_PERTURBATIONS]
    except ValueError as exc:
        raise fail(f"{exc}; or none") from None
    dev = resolve_device(device)

    errors = []

    def problem(message: str) -> None:
        errors.append(message)
        error_line(message)

    detectors = {}
    for name in detector or list_bundled("fakescope.detector"):
        try:  # without --detector: the bundled ones, by their folders (never a folder of that name here)
            detectors[name] = load_detector(name if detector else bundled_root("fakescope.detector") / name)
        except (CheckpointError, KeyError, ValueError, OSError) as exc:
            problem(f"detector {name}: {exc.args[0] if exc.args else exc}")
    sets, used = [], []
    for folder in corpus:
        try:  # an unreadable image is reported and left out; a corpus that cannot be read at all is skipped
            sets.append(load_split([folder], split, on_error=lambda msg: problem(f"{msg} (left out)")))
            used.append(str(folder))
        except (CorpusError, ValueError, OSError) as exc:
            problem(f"corpus {folder}: {exc}")
    if not detectors or not sets:
        raise fail("nothing to benchmark: " + ("no detector could be loaded" if not detectors else
                                               f"no {split!r} images could be read"), code=1)

    data = ImageSet.concat(sets)
    for label, kind in ((0, "real"), (1, "fake")):
        if not (data.labels == label).any():
            err.print(f"warning: the {split} split holds no {kind} images: AP and ROC-AUC are undefined (null)",
                      highlight=False, soft_wrap=True)
    with progress_bar("benchmarking", len(perturbations) * len(detectors),
                      enabled=format == Format.table or output is not None) as update:
        rows = bench(detectors, data, perturbations, device=dev, seed=seed, progress=update)

    report = {"command": command_line(ctx), "split": split, "corpora": used, "detectors": list(detectors),
              "perturbations": [str(p) if p else "none" for p in perturbations], "seed": seed, "results": rows,
              "errors": errors}
    if output is not None:
        from fakescope.core.imageio import write_bytes_atomic

        write_bytes_atomic(output, render(report, format).encode())
    elif format == Format.table:
        out.print(bench_table(rows))
    else:
        sys.stdout.write(render(report, format))
    if errors:
        raise typer.Exit(1)


def render(report: dict, format: Format) -> str:
    """JSON: the whole report. CSV: one row per result. Table: the table as plain text (for ``--output``)."""
    if format == Format.json:
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    if format == Format.csv:  # an undefined metric (None) is an empty cell
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(report["results"])
        return buf.getvalue()
    return table_text(bench_table(report["results"]))


def bench_table(rows: list[dict]):
    from rich.table import Table

    from fakescope.detector.bench import METRICS

    table = Table(title="AP, ROC-AUC: each generator's fakes against every real image; share of fakes caught "
                        "and of reals passed at the detector's threshold")
    for col in ("detector", "perturbation", "generator", "fakes", "reals", "AP", "AUC", "caught", "passed"):
        if col in ("detector", "perturbation", "generator"):
            table.add_column(col, overflow="fold")  # whole names, wrapped, rather than cut short
        else:
            table.add_column(col, justify="right", no_wrap=True)
    previous = None
    for r in rows:
        first = (r["detector"], r["perturbation"]) != previous
        previous = (r["detector"], r["perturbation"])
        table.add_row(r["detector"] if first else "", r["perturbation"] if first else "", r["generator"],
                      str(r["fakes"]), str(r["reals"]), *(_num(r[k]) for k in METRICS))
    return table


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"  # None: the split lacks a class
