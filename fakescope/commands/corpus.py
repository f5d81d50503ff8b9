"""``fakescope corpus``: build and verify labeled real/fake corpora."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Format,
    SeedOpt,
    fail,
    out,
    progress_bar,
    resolve_device,
)

corpus_app = typer.Typer(no_args_is_help=True, help="Labeled real/fake corpora: build, verify.")

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
