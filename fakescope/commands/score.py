"""``fakescope score``: score images and video frames (optionally their faces) from files, folders, globs, stdin."""

from __future__ import annotations

import json
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from fakescope.detector.records import ScoreRecord

from ..console import (
    DeviceOpt,
    Format,
    Grid,
    OutputFormatOpt,
    check_output,
    check_output_folder,
    check_outputs_apart,
    command_line,
    examples,
    fail,
    is_main_rank,
    join_ranks,
    output_file,
    output_format,
    progress_bar,
    resolve_device,
    say,
    show,
    table_text,
)

app = typer.Typer()  # top-level commands: merged into the main app

PLOT_SUFFIXES = {".png", ".pdf", ".svg", ".jpg", ".jpeg"}
CSV_COLUMNS = ["path", "kind", "score", "label", "error", "aggregate", "frames_scored", "frames_sampled", "face",
               "note", "flagged_by", "provenance", "vote_share"]


class OperatingPoint(str, Enum):  # the names of fakescope.detector.operating.OPERATING_POINTS (checked by a test)
    strict = "strict"
    balanced = "balanced"
    sensitive = "sensitive"


class Aggregate(str, Enum):
    mean = "mean"
    max = "max"
    topk = "topk"
    vote = "vote"


@app.command(epilog=examples(
    "fakescope score photo.jpg some/folder/                 # a table: how likely each is synthetic",
    "fakescope score imgs/ clip.mp4 -f json -o scores.json  # one record per input"))
def score(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(
        help="Images, videos, folders (recursive) or quoted patterns ('imgs/**/*.jpg'); '-' reads paths from stdin, "
             "one per line.", show_default=False)],
    format: OutputFormatOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=output_file,
                                                help="Write the output to this file ('-': standard output).")] = None,
    detector: Annotated[str, typer.Option(
        "--detector", "-d", help="Bundled detector name, checkpoint folder, or FAMILY=FILE for a third-party "
                                 "weights file (timm:resnet50=CNNDetection.pth; threshold 0.5).")] = "",
    threshold: Annotated[float | None, typer.Option(help="Decision threshold (default: the detector's).")] = None,
    operating_point: Annotated[OperatingPoint | None, typer.Option(
        "--operating-point", help="A named threshold: strict, balanced or sensitive flag at most 1%, 5% or 10% "
                                  "of the detector's validation reals (the default threshold is balanced's).")]
    = None,
    frames: Annotated[int | None, typer.Option("--frames", min=1, show_default=False,
                                               help="Video: sample this many frames evenly (default 32).")] = None,
    every: Annotated[int | None, typer.Option("--every", min=1, help="Video: take every K-th frame instead.")] = None,
    faces: Annotated[bool, typer.Option("--faces", help="Score the largest face of each image and frame "
                                                        "(a square 1.3× the face); frames without one are skipped.")]
    = False,
    aggregate: Annotated[Aggregate, typer.Option("--aggregate", help="Video score from its frames: mean, max, "
                                                 "topk (mean of the --top-k highest) or vote (share of fake frames).")]
    = Aggregate.mean,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Frames averaged by --aggregate topk.")] = 5,
    plot: Annotated[Path | None, typer.Option("--plot", parser=output_file, help="Draw each video's score over "
                                              "time (with the threshold) into this image (.png, .pdf, .svg).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images and frames per detector batch.")] = 64,
    workers: Annotated[int, typer.Option(min=1, help="Background decoding threads.")] = 2,
    provenance: Annotated[bool, typer.Option("--provenance/--no-provenance",
                                             help="Read each file's provenance evidence (images: C2PA, XMP, "
                                                  "EXIF, PNG text chunks, the Stable Diffusion watermark; videos: "
                                                  "C2PA, XMP, encoding tool) and report it beside the score.")] = True,
    heatmap: Annotated[Path | None, typer.Option("--heatmap", help="Write per image its tile scores as an overlay "
                                                 "PNG into this new folder (the JSON record carries the tiles).")]
    = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML audit report "
                                                "(index.html) into this new folder.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous --heatmap folder or "
                                            "--report.")] = False,
    follow_links: Annotated[bool, typer.Option(
        "--follow-links/--no-follow-links", help="In folders, follow symbolic links to files and folders (how many "
                                                 "inputs came through links is said on stderr), or leave them out.")]
    = True,
    device: DeviceOpt = "auto",
) -> None:
    """Score images and videos: the probability that each is synthetic.

    Exit status: 0 when every input was scored, 1 when some could not be read or scored in full (each has an
    error; the others are still scored), 2 on a usage error.

    Under torchrun each process scores a contiguous part of the inputs; rank 0 writes the one output, in input
    order, as a single process would.
    """
    if output is not None and str(output) == "-":  # `-o -`: standard output, as without --output
        output = None
    if frames is not None and every is not None:
        raise fail("use --frames or --every, not both")
    source = ctx.get_parameter_source("top_k")
    if source is not None and source.name == "COMMANDLINE" and aggregate.value != "topk":
        raise fail(f"--top-k applies to --aggregate topk (here --aggregate {aggregate.value})")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise fail(f"--threshold must be between 0 and 1, got {threshold}")
    if threshold is not None and operating_point is not None:
        raise fail("use --threshold or --operating-point, not both")
    check_output(output)
    check_output(plot, "--plot")
    format = output_format(format, output)
    if heatmap is not None and report is not None and heatmap.resolve() == report.resolve():
        raise fail("--heatmap and --report need different folders")
    replacing_heatmaps = False
    if heatmap is not None:
        replacing_heatmaps = check_output_folder(heatmap, what="heatmap folder", overwrite=overwrite,
                                                 is_previous=_is_heatmap_folder, option="--heatmap")
    if report is not None:
        check_output_folder(report, what="audit report", overwrite=overwrite, is_previous=_is_report_folder,
                            option="--report")
    if plot is not None and plot.suffix.lower() not in PLOT_SUFFIXES:
        raise fail(f"--plot {plot}: use one of {', '.join(sorted(PLOT_SUFFIXES))}")
    outputs = {"--output": output, "--plot": plot, "--heatmap": heatmap, "--report": report}
    weights = [detector.partition("=")[2] or detector] if detector else []  # a checkpoint folder or a weights file
    check_outputs_apart(outputs, [p for p in paths if p != "-"] + weights)  # what is named: before torch loads
    from fakescope.core.checkpoint import CheckpointError  # after the checks above: usage errors never load torch
    from fakescope.detector.base import load_detector
    from fakescope.detector.external import is_external, load_external
    from fakescope.detector.scoring import collect_inputs, iter_scores

    if "-" in paths:
        paths = [p for p in paths if p != "-"] + [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    dev = resolve_device(device)
    try:
        if detector and is_external(detector):  # FAMILY=FILE: a third-party weights file, threshold 0.5
            det = load_external(detector)[1]
        else:
            det = load_detector(detector or None)  # the default: always the bundled one
    except (CheckpointError, KeyError, ValueError) as exc:
        raise fail(f"--detector: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}") from None
    if operating_point is not None:
        try:
            threshold = det.operating_threshold(operating_point.value)
        except ValueError as exc:
            raise fail(f"--operating-point: {exc}") from None
    _quiet_decoders()

    from fakescope.core import distributed

    ranks = join_ranks(dev, tensors=False)
    main = is_main_rank()
    empty: list[str] = []
    # the output folders are never walked, and no output may be an input: checked before anything is written
    inputs = collect_inputs(paths, empty=empty, follow_links=follow_links,
                            exclude=[f for f in (heatmap, report) if f is not None])
    check_outputs_apart(outputs, [*paths, *(i.path for i in inputs if i.error is None)])
    linked = sum(i.via_link for i in inputs)
    if linked and main:
        say(f"{linked} of {len(inputs)} input(s) came through symbolic links (--no-follow-links leaves them "
            "out)", stderr=True)
    for folder in empty if main else []:
        say(f"{folder}: no images or videos in this folder", stderr=True)
    if not inputs:
        if format != Format.table and main:  # still a valid (empty) document for whoever reads it
            _write(render_records([], format), output)
        raise fail(f"no images or videos found in {', '.join(paths) or 'the paths given'}", code=1)
    records = []
    heatmaps = audit = None
    if heatmap is not None:
        from fakescope.detector.audit import HeatmapWriter

        if replacing_heatmaps and main:  # only the previous heatmaps are there (checked above)
            for old in heatmap.iterdir():
                old.unlink()
        if ranks.active:
            distributed.barrier()  # no rank writes before the old heatmaps are gone
        # each rank writes the heatmaps of its own inputs, numbered by their place among all inputs
        heatmaps = HeatmapWriter(heatmap, start=distributed.shard_start(len(inputs), ranks, block=batch_size))
    if report is not None:
        from fakescope.detector.audit import AuditReport

        audit = AuditReport()
    # cut on batch boundaries: each rank's batches are those one process would make
    mine = distributed.shard(inputs, ranks, block=batch_size)
    with progress_bar("scoring", len(mine), unit="inputs",
                      enabled=format == Format.table or output is not None) as update:
        for rec in iter_scores(mine, det, threshold=threshold, batch_size=batch_size, device=dev, workers=workers,
                               frames=frames or 32, every=every, faces=faces, aggregate=aggregate.value,
                               top_k=top_k, provenance=provenance, detail=heatmap is not None or report is not None,
                               progress=update):
            if heatmaps is not None:
                heatmaps.add(rec)
            if audit is not None:
                audit.add(rec)
            rec.preview = rec.frame_previews = None
            records.append(rec)
    if ranks.active:  # every rank's records, in rank order: the inputs' order
        records = [r for part in distributed.all_gather(records) for r in part]
        if audit is not None:  # the report's rows (small embedded PNGs) likewise
            audit.merge(distributed.all_gather(audit))
        if not main:
            return

    if format == Format.table:
        text = None
    else:
        text = render_records(records, format)
    if output is not None:
        _write(text if text is not None else table_text(records_table(records)), output)
    elif text is None:
        show(records_table(records))
    else:
        sys.stdout.write(text)
    thr = det.threshold if threshold is None else threshold
    if plot is not None:
        from fakescope.detector.video import plot_timelines

        if plot_timelines(records, plot, thr) == 0:
            say(f"--plot: no video among the inputs, {plot} not written", stderr=True)
    if audit is not None:
        from fakescope.detector.audit import detector_meta

        page = audit.write(report, meta=detector_meta(det, thr, command_line(ctx),
                                                     operating_point and operating_point.value), threshold=thr)
        say(f"report: {page}", stderr=True)
    if heatmaps is not None:
        say(f"heatmaps: {heatmaps.count} written into {heatmap}", stderr=True)
    bad = sum(r.error is not None for r in records)
    if bad:
        say(f"{bad} of {len(records)} input(s) could not be read or scored in full", stderr=True)
        raise typer.Exit(1)


def _is_heatmap_folder(path: Path) -> bool:
    from fakescope.detector.audit import is_heatmap_folder

    return is_heatmap_folder(path)


def _is_report_folder(path: Path) -> bool:
    from fakescope.detector.audit import is_report_folder

    return is_report_folder(path)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from fakescope.core.imageio import write_bytes_atomic

    write_bytes_atomic(output, text.encode())


def _quiet_decoders() -> None:
    """Decoder chatter on stderr (Pillow warnings, OpenCV log lines): every problem is in the records instead."""
    import cv2

    warnings.filterwarnings("ignore", module=r"PIL\..*")
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # builds without the logging module
        pass


def render_records(records: list[ScoreRecord], format: Format) -> str:
    """JSON: the records as a list. CSV: one row per input, videos summarised (their timeline is in JSON)."""
    if format == Format.json:
        return json.dumps([r.to_json() for r in records], indent=2) + "\n"
    from fakescope.core.csvfile import csv_text

    rows = []
    for r in records:
        scored, sampled = r.frames_summary()
        video = r.has_timeline
        rows.append([r.path, r.kind, "" if r.score is None else f"{r.score:.6f}", r.label or "",
                         r.error or "", r.aggregate if video else "",
                         scored if video else "", sampled if video else "",
                         " ".join(map(str, r.face)) if r.face else "", r.note or "",
                         "; ".join(r.flagged_by()), " | ".join(f"{f.strength}: {f.found}" for f in r.provenance or []),
                     "" if r.vote_share is None else f"{r.vote_share:.6f}"])
    return csv_text(CSV_COLUMNS, rows)


def records_table(records: list[ScoreRecord]) -> Grid:
    """One row per input: path (never cut, control characters escaped), kind, score (a probability), label, then
    the share of fake frames when videos were decided by vote, what flagged the input, and notes."""
    flagging = any(r.flagged_by() for r in records)  # the column is there when something is flagged
    voting = any(r.vote_share is not None for r in records)
    headers = ["path", "kind", "score", "label", *(["fake frames"] if voting else []),
               *(["flagged by"] if flagging else []), "note"]
    grid = Grid(headers, keep=("path",), right=("score", "fake frames"))
    for r in records:
        label = r.label or ""
        notes = []
        if r.has_timeline:
            scored, sampled = r.frames_summary()
            notes.append(f"{r.aggregate} of {scored}/{sampled} frames")
        if r.error:
            notes.append(r.error)
        if r.note:
            notes.append(r.note)
        notes += [f.found for f in r.provenance or [] if f.strength == "error"]
        cells = [r.path, r.kind, "-" if r.score is None else f"{r.score:.4f}", label]
        if voting:
            cells.append("" if r.vote_share is None else f"{r.vote_share:.0%}")
        if flagging:
            cells.append("; ".join(r.flagged_by()))
        style = {"fake": "red", "real": "green"}.get(label)
        grid.add_row(*cells, "; ".join(notes), styles={3: style} if style else None)
    return grid
