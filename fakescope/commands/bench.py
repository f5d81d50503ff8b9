"""``fakescope bench``: detectors × generators × perturbations on labeled corpora or plain folders → a table,
JSON or CSV, and with ``--report DIR`` a self-contained HTML report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Format,
    Grid,
    OutputFormatOpt,
    SeedOpt,
    check_output,
    check_output_folder,
    check_outputs_apart,
    command_line,
    error_line,
    examples,
    fail,
    output_file,
    output_format,
    progress_bar,
    refuse_under_torchrun,
    resolve_device,
    say,
    show,
    table_text,
)

app = typer.Typer()  # top-level command: merged into the main app

DEFAULT_PERTURBATIONS = ("none", "jpeg:75", "blur:1")
COLUMNS = ("detector", "perturbation", "generator", "fakes", "reals", "ap", "ap_low", "ap_high", "roc_auc",
           "accuracy", "fake_accuracy", "real_accuracy", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece", "threshold")


@app.command("bench", epilog=examples(
    "fakescope bench --corpus corpus/ -d npr-published --perturb none --perturb jpeg:90,75,50",
    "fakescope bench --real photos/ --fake sdxl=sdxl-images/ --report bench-report/"))
def bench_command(
    ctx: typer.Context,
    corpus: Annotated[list[Path] | None, typer.Option("--corpus", help="Corpus folder (repeatable); generators are "
                                                      "told apart by each fake's manifest origin.")] = None,
    real: Annotated[list[str] | None, typer.Option(
        "--real", help="A plain folder of real images, DIR or NAME=DIR (repeatable), benchmarked without a corpus.",
    )] = None,
    fake: Annotated[list[str] | None, typer.Option(
        "--fake", help="A plain folder of one generator's images, NAME=DIR (repeatable).",
    )] = None,
    detector: Annotated[list[str] | None, typer.Option(
        "--detector", "-d", help="Bundled detector name, checkpoint folder, or FAMILY=FILE for a third-party weights "
                                 "file (npr:official=NPR.pth, timm:resnet50=CNNDetection.pth) (repeatable; default: "
                                 "every bundled one).",
    )] = None,
    perturb: Annotated[list[str] | None, typer.Option(
        "--perturb", help="none, jpeg:Q, blur:SIGMA, noise:SIGMA, resize:F, resample:F, crop:F, a chain "
                          "(jpeg:75+resize:0.5) or several values (jpeg:90,75,50), applied to real and fake images "
                          f"alike (repeatable; default: {', '.join(DEFAULT_PERTURBATIONS)}).",
    )] = None,
    grid: Annotated[str | None, typer.Option(
        "--grid", help="A named robustness grid (standard, quick), added to --perturb.",
    )] = None,
    split: Annotated[str, typer.Option(help="Corpus split to score: test, val or train.")] = "test",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many images per generator (and as many "
                                                          "reals as all generators), drawn by --seed.")] = None,
    format: OutputFormatOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=output_file,
                                                help="Write the report to this file.")] = None,
    report_dir: Annotated[Path | None, typer.Option(
        "--report", help="Write a self-contained HTML report (index.html) and the raw results (JSON, CSV) here "
                         "(a new or empty folder, or a previous report with --overwrite).",
    )] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous --report.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Benchmark detectors against the generators of labeled corpora or plain folders, clean and perturbed.

    Each generator's fakes are ranked against every real image (AP, ROC-AUC, TPR at 1% and 5% FPR, EER); accuracy
    is read at each detector's own threshold, for real and fake images apart; ECE measures calibration; cost is
    parameters, multiply-accumulates per image and measured images/s. Exit status: 0 when every corpus, folder
    and detector could be used, 1 when some could not (each gets an error line; the rest are still
    benchmarked), 2 on a usage error.
    """
    import time

    from fakescope.core.corpus_import import parse_folder
    from fakescope.core.perturb import parse_grid
    from fakescope.core.safety import only_names

    started = time.perf_counter()
    refuse_under_torchrun("bench")
    format = output_format(format, output)
    if split not in ("train", "val", "test"):
        raise fail(f"--split {split!r}: use test, val or train")
    if not corpus and not real and not fake:
        raise fail("nothing to benchmark: give --corpus CORPUS, or --real DIR and --fake NAME=DIR")
    check_output(output)
    if report_dir is not None:
        check_output_folder(report_dir, what="bench report", overwrite=overwrite,
                            is_previous=lambda p: only_names(p, REPORT_FILES.__contains__))
    try:
        folders = [parse_folder(d, 0) for d in real or []] + [parse_folder(d, 1) for d in fake or []]
        chains = [c for text in (perturb or ([] if grid else DEFAULT_PERTURBATIONS)) for c in parse_grid(text)]
        chains += parse_grid(grid) if grid else []
    except ValueError as exc:
        raise fail(str(exc)) from None
    # each once, first place kept; the clean images always first: every perturbation is read against them, and the
    # report's "clean" sections must never show a perturbed pass under that name
    chains = list(dict.fromkeys([*parse_grid("none"), *chains]))
    # after the usage checks above: a usage error never loads torch
    from fakescope.core.checkpoint import CheckpointError, bundled_root, list_bundled
    from fakescope.core.corpus import CorpusError, read_record
    from fakescope.core.version import fakescope_version
    from fakescope.detector.base import load_detector
    from fakescope.detector.bench import limit_per_generator, run_bench, size_notes
    from fakescope.detector.data import ImageSet, load_folders, load_split
    from fakescope.detector.external import is_external, load_external

    dev = resolve_device(device)

    errors = []

    def problem(message: str) -> None:
        errors.append(message)
        error_line(message)

    detectors = {}
    for name in detector or list_bundled("fakescope.detector"):
        try:  # without --detector: the bundled ones, by their folders (never a folder of that name here)
            if is_external(name):
                label, det = load_external(name)
                detectors[name if label in detectors else label] = det  # files of one name: as given
            else:
                detectors[name] = load_detector(name if detector else bundled_root("fakescope.detector") / name)
        except (CheckpointError, KeyError, ValueError, OSError) as exc:
            problem(f"detector {name}: {exc.args[0] if exc.args else exc}")
    sets, used, notes = [], [], []
    for folder in corpus or []:
        try:  # an unreadable image is reported and left out; a corpus that cannot be read at all is skipped
            sets.append(load_split([folder], split, on_error=lambda msg: problem(f"{msg} (left out)")))
            used.append(str(folder))
            notes.extend(format_notes(str(folder), read_record(folder)))
        except (CorpusError, ValueError, OSError) as exc:
            problem(f"corpus {folder}: {exc}")
    if folders:
        try:
            folder_set = load_folders(folders, on_error=problem, on_note=notes.append)
            sets.append(folder_set)
            used.extend(f"{f.origin}={f.path}" for f in folders)
            notes.extend(folder_notes(folder_set))
        except ValueError as exc:
            problem(str(exc))
    if not detectors or not sets:
        raise fail("nothing to benchmark: " + ("no detector could be loaded" if not detectors else
                                               f"no {split!r} images could be read"), code=1)

    data = ImageSet.concat(sets)
    # no output may be what was read: a corpus, a detector's folder or file, an image of a plain folder
    check_outputs_apart({"--output": output, "--report": report_dir},
                        [*(f.path for f in folders), *(r["source_file"] for r in data.rows if "source_file" in r),
                         *(n.partition("=")[2] for n in detector or [] if "=" in n)],
                        folders=[*(corpus or []), *(n for n in (detector or []) if "=" not in n and Path(n).is_dir())])
    if limit is not None:
        data = limit_per_generator(data, limit, seed)
    for label, kind in ((0, "real"), (1, "fake")):
        if not (data.labels == label).any():
            say(f"warning: the {split} split holds no {kind} images: AP and ROC-AUC are undefined (null)", stderr=True)
    notes.extend(size_notes(data))
    to_stdout = output is None and format == Format.table  # the table there carries the warnings itself
    for line in warning_notes(notes) if not to_stdout else []:  # any other output: JSON notes, HTML, and stderr
        say(f"warning: {line}", stderr=True)
    with progress_bar("benchmarking", len(chains) * len(detectors), unit="passes",
                      enabled=format == Format.table or output is not None or report_dir is not None) as update:
        result = run_bench(detectors, data, chains, device=dev, seed=seed, progress=update)

    report = {"command": command_line(ctx), "split": split, "corpora": used, "detectors": list(detectors),
              "perturbations": result.perturbations, "seed": seed, "limit": limit, "images": len(data),
              "reals": int((data.labels == 0).sum()), "fakes": int((data.labels == 1).sum()),
              "cost": result.cost, "notes": notes, "results": result.rows, "errors": errors,
              "seconds": None}
    if report_dir is not None:
        from datetime import datetime, timezone

        from fakescope.core.report import shown_location
        from fakescope.detector.bench_report import write_bench_report

        report["seconds"] = round(time.perf_counter() - started, 1)  # scoring; the page adds its own time
        meta = {"command": report["command"], "images": f"{report['reals']} real, {report['fakes']} fake",
                "corpora / folders": ", ".join(shown_location(u) if "=" not in u else  # NAME=DIR: the folder
                                               "=".join((u.partition("=")[0], shown_location(u.partition("=")[2])))
                                               for u in used),
                "perturbations": ", ".join(result.perturbations),
                "seed": str(seed), "device": str(dev), "fakescope": fakescope_version(),
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        page = write_bench_report(report_dir, result, data, report, notes=notes + [f"error: {e}" for e in errors],
                                  meta=meta)
        say(f"report: {page} ({time.perf_counter() - started:.1f} s)", stderr=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if output is not None:
        from fakescope.core.imageio import write_bytes_atomic

        write_bytes_atomic(output, render(report, format).encode())
    elif format == Format.table:
        show(bench_table(result.rows))
        for line in warning_notes(notes):
            say(f"warning: {line}")
    else:
        sys.stdout.write(render(report, format))
    if errors:
        raise typer.Exit(1)


REPORT_FILES = ("index.html", "results.json", "results.csv", "scores.csv")


def format_notes(name: str, record: dict) -> list[str]:
    """What a corpus's record says about how its two classes are stored (imported corpora record formats)."""
    if record.get("kind") != "imported":
        return []
    formats = record.get("formats", {})
    desc = "; ".join(f"{k}: " + ", ".join(f"{n} {f}" for f, n in sorted(v.items())) for k, v in formats.items())
    if record.get("match_format", "as found") != "as found":
        return [f"{name}: both classes re-encoded alike as {record['match_format']} (--match-format)."]
    if record.get("formats_differ"):
        return [f"{name}: WARNING: real and fake images are stored in different formats ({desc}); a detector can "
                "score well by telling the formats apart. Re-import with --match-format png or jpeg:Q."]
    return [f"{name}: files kept as found ({desc})."]


def folder_notes(data) -> list[str]:
    """The same warning for plain folders: the formats of each class, as found."""
    formats: dict[str, dict[str, int]] = {"real": {}, "fake": {}}
    for r, y in zip(data.rows, data.labels, strict=True):
        kind = "real" if y == 0 else "fake"
        formats[kind][r.get("format", "?")] = formats[kind].get(r.get("format", "?"), 0) + 1
    differ = bool(formats["real"]) and bool(formats["fake"]) and sorted(formats["real"]) != sorted(formats["fake"])
    return format_notes("--real/--fake folders", {"kind": "imported", "formats": formats, "formats_differ": differ})


def render(report: dict, format: Format) -> str:
    """JSON: the whole report. CSV: one row per result. Table: the table as plain text (for ``--output``)."""
    if format == Format.json:
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    if format == Format.csv:  # an undefined metric (None) is an empty cell
        from fakescope.core.csvfile import csv_text

        return csv_text(COLUMNS, report["results"])
    return table_text(bench_table(report["results"])) + "".join(f"warning: {w}\n"
                                                                for w in warning_notes(report["notes"]))


def warning_notes(notes: list[str]) -> list[str]:
    """The notes that warn (real and fake images stored in different formats, or of different sizes): shown with
    every output, the table's included, not only in JSON and the HTML report."""
    return [n.replace("WARNING: ", "") for n in notes if "WARNING:" in n]


def bench_table(rows: list[dict]) -> Grid:
    from fakescope.detector.bench import TABLE_METRICS as METRICS

    grid = Grid(["detector", "perturbation", "generator", "fakes", "reals", "AP", "ROC-AUC", "caught", "passed"],
                title="AP, ROC-AUC: each generator's fakes against every real image; share of fakes caught and of "
                      "reals passed at the detector's threshold",
                keep=("detector", "perturbation", "generator"),  # whole names, never cut or split
                right=("fakes", "reals", "AP", "ROC-AUC", "caught", "passed"))
    previous = None
    for r in rows:
        first = (r["detector"], r["perturbation"]) != previous
        previous = (r["detector"], r["perturbation"])
        grid.add_row(r["detector"] if first else "", r["perturbation"] if first else "", r["generator"],
                     str(r["fakes"]), str(r["reals"]), *(_num(r[k]) for k in METRICS))
    return grid


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"  # None: the split lacks a class
