"""``fakescope train`` and ``fakescope detectors``: train detectors, list families and bundled checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    SeedOpt,
    SetOpt,
    command_line,
    fail,
    metrics_table,
    out,
    parse_overrides,
    progress_bar,
    resolve_device,
)

app = typer.Typer()  # top-level commands: merged into the main app
detectors_app = typer.Typer(no_args_is_help=True, help="Detector families and bundled checkpoints.")

@app.command("train")
def train_detector(
    ctx: typer.Context,
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
    det.info = {"training": {"corpora": [str(c) for c in corpus], "seed": seed, "command": command_line(ctx),
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
