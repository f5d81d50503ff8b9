"""The ``fakescope`` command line: parse, build a config, call one library function, print."""

from __future__ import annotations

import csv
import io
import json
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .console import err, fail, metrics_table, out, parse_overrides, progress_bar, resolve_device

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Find synthetic images: bundled GANs, labeled fake corpora, forensic detectors.")
gan_app = typer.Typer(no_args_is_help=True, help="GAN families: list, train, sample.")
corpus_app = typer.Typer(no_args_is_help=True, help="Labeled real/fake corpora: build, verify.")
detectors_app = typer.Typer(no_args_is_help=True, help="Detector families and bundled checkpoints.")
app.add_typer(gan_app, name="gan")
app.add_typer(corpus_app, name="corpus")
app.add_typer(detectors_app, name="detectors")

DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (auto takes CUDA when present).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for everything random.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value (repeatable).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _command_line() -> str:
    return shlex.join(["fakescope", *sys.argv[1:]])


# --- score -------------------------------------------------------------------------------------------------------

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


# --- demo --------------------------------------------------------------------------------------------------------

@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("fakescope-demo"),
    count: Annotated[int, typer.Option(min=2, help="Real and fake images each.")] = 200,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """End to end: sample fakes from the bundled GAN, mix them with held-out real images, score, report."""
    from .demo import run_demo

    with progress_bar("demo", None) as update:
        report = run_demo(out_dir, count=count, seed=seed, device=resolve_device(device),
                          progress=lambda msg: update(description=msg))
    out.print(metrics_table(f"fakescope demo: {report['detector']} on {report['generator']} fakes vs "
                            f"held-out real {report['real']}", {"all": report["metrics"]}))
    out.print(f"report: {out_dir}/ (scores.json, grid.png)", highlight=False)


# --- gan ---------------------------------------------------------------------------------------------------------

@gan_app.command("list")
def gan_list() -> None:
    """GAN families and bundled GAN checkpoints."""
    from generators.checkpoint import bundled_root, list_bundled, read_meta
    from generators.gan import list_gans

    out.print("families: " + ", ".join(list_gans()), highlight=False)
    from rich.table import Table

    table = Table(title="bundled checkpoints")
    for col in ("name", "family", "image", "trained on", "command"):
        table.add_column(col)
    for name in list_bundled("generators"):
        meta = read_meta(bundled_root("generators") / name)
        im = meta.get("image", {})
        training = meta.get("training", {})
        table.add_row(name, meta.get("family", "?"), f"{im.get('height')}x{im.get('width')}x{im.get('channels')}",
                      str(training.get("data", "?")), str(training.get("command", "")))
    out.print(table)


@gan_app.command("train")
def gan_train(
    name: Annotated[str, typer.Argument(help="GAN family (see `fakescope gan list`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder.")],
    data: Annotated[str, typer.Option(help="Real source: digits, faces, photos or folder:PATH.")] = "digits",
    count: Annotated[int | None, typer.Option(help="Real images to draw (default: the whole train split).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training length (family-specific meaning).")] = None,
    size: Annotated[int | None, typer.Option(help="Image side in pixels.")] = None,
    channels: Annotated[int | None, typer.Option(help="1 (gray) or 3 (RGB).")] = None,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train a GAN on real images; resumable after a kill with --resume."""
    from generators.gan import GANS, create_gan, list_gans
    from generators.sources import create_source
    from generators.training import RunFolderError, train_gan

    if name not in list_gans():
        raise fail(f"unknown GAN family {name!r}; known: {', '.join(list_gans())}")
    overrides = parse_overrides(set_, GANS.get(name).Config)
    for key, value in (("epochs", epochs), ("image_size", size), ("channels", channels)):
        if value is not None:
            overrides[key] = value
    dev = resolve_device(device)
    gan = create_gan(name, seed=seed, **overrides)
    try:
        source = create_source(data)
        c, s, _ = gan.image_shape
        real = source.draw(count, size=s, channels=c, split="train", seed=seed)
    except (ValueError, KeyError) as exc:
        raise fail(str(exc)) from None
    options = {"data": data, "count": len(real), "command": _command_line()}
    with progress_bar(f"training {name}", None) as update:
        def on_step(step: int, total: int, phase: str, losses: dict) -> None:
            loss_text = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            update(completed=step, description=f"{name} {phase} {loss_text}")
        try:
            ckpt = train_gan(gan, real.images, out_dir, device=dev, seed=seed, resume=resume,
                             options=options, progress=on_step)
        except RunFolderError as exc:
            raise fail(str(exc)) from None
    out.print(f"checkpoint: {ckpt}", highlight=False)


@gan_app.command("sample")
def gan_sample(
    model: Annotated[str, typer.Argument(help="Bundled GAN checkpoint name or checkpoint folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")],
    count: Annotated[int, typer.Option(min=1)] = 64,
    seed: SeedOpt = 0,
    start: Annotated[int, typer.Option(min=0, help="Index of the first image (to regenerate a slice).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    device: DeviceOpt = "auto",
) -> None:
    """Sample images, one derived seed per image: image i of seed S is the same wherever it is drawn."""
    from generators.checkpoint import CheckpointError
    from generators.gan import load_gan
    from generators.sampling import sample_to_folder

    try:
        gan, meta = load_gan(model, device=resolve_device(device))
    except (CheckpointError, KeyError) as exc:
        raise fail(str(exc)) from None
    with progress_bar(f"sampling {model}", count) as update:
        rows = sample_to_folder(gan, out_dir, count=count, seed=seed, start=start, batch_size=batch_size,
                                checkpoint={"name": model, "sha256": meta["sha256"]},
                                progress=lambda n: update(advance=n))
    out.print(f"{len(rows)} images in {out_dir}", highlight=False)


@gan_app.command("export")
def gan_export(
    model: Annotated[str, typer.Argument(help="GAN checkpoint folder (e.g. RUN/checkpoint).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")],
    half: Annotated[bool, typer.Option("--half/--full", help="Store weights in fp16.")] = True,
) -> None:
    """Copy a sampling checkpoint, in fp16 by default (how bundled checkpoints are made)."""
    from generators.checkpoint import CheckpointError
    from generators.gan import load_gan

    try:
        gan, meta = load_gan(model)
    except (CheckpointError, KeyError) as exc:
        raise fail(str(exc)) from None
    keep = {k: v for k, v in meta.items() if k not in ("kind", "family", "config", "image", "sha256", "path",
                                                        "format_version", "fakescope_version")}
    digest = gan.save(out_dir, meta=keep, half=half)
    out.print(f"{out_dir}: sha256 {digest}", highlight=False)


# --- corpus ------------------------------------------------------------------------------------------------------

@corpus_app.command("build")
def corpus_build(
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus folder (must be new or empty).")],
    real: Annotated[str, typer.Option(help="Real source: digits, faces, photos or folder:PATH.")] = "digits",
    generator: Annotated[str, typer.Option(help="Bundled GAN name or checkpoint folder.")] = "vanilla-digits",
    train: Annotated[int, typer.Option(min=0, help="Train images per class.")] = 500,
    val: Annotated[int, typer.Option(min=0, help="Validation images per class.")] = 100,
    test: Annotated[int, typer.Option(min=0, help="Test images per class.")] = 100,
    size: Annotated[int | None, typer.Option(help="Image side (default: the generator's).")] = None,
    channels: Annotated[int | None, typer.Option(help="1 or 3 (default: the generator's).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    workers: Annotated[int, typer.Option(min=1, help="Encoder/writer threads.")] = 2,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Build a labeled corpus: real images from a source beside fakes from a generator."""
    from generators.checkpoint import CheckpointError
    from generators.corpus import CorpusError, CorpusSpec, build_corpus

    spec = CorpusSpec(real=real, generator=generator, counts={"train": train, "val": val, "test": test},
                      size=size, channels=channels, seed=seed)
    try:
        with progress_bar("building corpus", 2 * (train + val + test)) as update:
            record = build_corpus(spec, out_dir, device=resolve_device(device), batch_size=batch_size,
                                  workers=workers, progress=lambda n: update(advance=n))
    except (CorpusError, CheckpointError, ValueError, KeyError) as exc:
        raise fail(str(exc)) from None
    out.print(f"corpus {out_dir}: {json.dumps(record['counts'])}", highlight=False)


@corpus_app.command("verify")
def corpus_verify(
    corpus: Annotated[Path, typer.Argument(help="Corpus folder.")],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Recheck every file's sha256 against the manifest; exit 1 on any missing, changed or extra file."""
    from generators.corpus import CorpusError, verify_corpus

    try:
        report = verify_corpus(corpus)
    except CorpusError as exc:
        raise fail(str(exc)) from None
    if format == Format.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        out.print(f"{corpus}: {report['checked']} files checked, {len(report['missing'])} missing, "
                  f"{len(report['changed'])} changed, {len(report['extra'])} extra", highlight=False)
        for kind in ("missing", "changed", "extra"):
            for path in report[kind]:
                out.print(f"  {kind}: {path}", highlight=False)
    if not report["ok"]:
        raise typer.Exit(1)


# --- detectors ---------------------------------------------------------------------------------------------------

@app.command("train")
def train_detector(
    family: Annotated[str, typer.Argument(help="Detector family (see `fakescope detectors list`).")],
    corpus: Annotated[list[Path], typer.Option("--corpus", help="Corpus folder (repeatable).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write.")],
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    set_: SetOpt = None,
    half: Annotated[bool, typer.Option("--half", help="Store weights in fp16.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train a detector on corpora (train split), choosing its threshold on their val split."""
    from detector.base import DETECTORS, create_detector, list_detectors
    from detector.data import load_split
    from detector.metrics import summarize

    if family not in list_detectors():
        raise fail(f"unknown detector family {family!r}; known: {', '.join(list_detectors())}")
    overrides = parse_overrides(set_, DETECTORS.get(family).Config)
    if epochs is not None:
        overrides["epochs"] = epochs
    det = create_detector(family, **overrides)
    try:
        train, val = load_split(corpus, "train"), load_split(corpus, "val")
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    dev = resolve_device(device)
    with progress_bar(f"training {family}", None) as update:
        result = det.fit(train, val, device=dev, seed=seed,
                         progress=lambda s, t, m: update(completed=s, description=
                                                         f"{family} epoch {m['epoch']} loss={m['loss']:.3f}"))
    rows = {"val": result["val"]}
    try:
        test = load_split(corpus, "test")
        rows["test"] = summarize(test.labels, det.predict_proba(test.images, device=dev), det.threshold)
    except ValueError:
        pass
    det.info = {"training": {"corpora": [str(c) for c in corpus], "seed": seed, "command": _command_line(),
                             "best_epoch": result["best_epoch"], "history": result["history"], "metrics": rows},
                "complexity": det.complexity()}
    det.save(out_dir, half=half)
    out.print(metrics_table(f"{family} (threshold {det.threshold:.4f})", rows))
    out.print(f"checkpoint: {out_dir}", highlight=False)


@detectors_app.command("list")
def detectors_list() -> None:
    """Detector families and bundled detector checkpoints with their training corpora and metrics."""
    from rich.table import Table

    from detector.base import DEFAULT_DETECTOR, list_detectors
    from generators.checkpoint import bundled_root, list_bundled, read_meta

    out.print("families: " + ", ".join(list_detectors()), highlight=False)
    table = Table(title="bundled detectors")
    for col in ("name", "family", "threshold", "corpora", "test AP", "default"):
        table.add_column(col)
    for name in list_bundled("detector"):
        meta = read_meta(bundled_root("detector") / name)
        training = meta.get("training", {})
        test = training.get("metrics", {}).get("test", {})
        table.add_row(name, meta.get("family", "?"), f"{meta.get('threshold', 0.5):.4f}",
                      ", ".join(training.get("corpora", [])), f"{test.get('ap', float('nan')):.4f}",
                      "yes" if name == DEFAULT_DETECTOR else "")
    out.print(table)


def main() -> None:
    app()
