"""``fakescope demo``: the embedded default, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    SeedOpt,
    check_writable_folder,
    examples,
    metrics_table,
    progress_bar,
    resolve_device,
    say,
    show,
)

app = typer.Typer()  # top-level commands: merged into the main app

@app.command(epilog=examples(
    "fakescope demo                                   # a few minutes on a CPU",
    "fakescope demo --real-images 128 --out demo-report/"))
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("fakescope-demo"),
    real_images: Annotated[int, typer.Option(
        "--real-images", min=4,
        help="Real photograph windows; each bundled generator gives a quarter as many fakes (at least 4).",
    )] = 64,
    count: Annotated[int | None, typer.Option("--count", min=4, hidden=True, help="Old name of --real-images.")]
    = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """End to end: fakes from every bundled generator and real photographs the default never saw, scored and
    reported per origin."""
    from ..demo import run_demo

    check_writable_folder(out_dir)  # before the models are loaded and the images drawn
    with progress_bar("demo", None) as update:
        report = run_demo(out_dir, count=real_images if count is None else count, seed=seed,
                          device=resolve_device(device), progress=update)
    show(metrics_table(
        f"fakescope demo: {report['detector']} (threshold {report['threshold']:.3f}) on {report['window']} px windows "
        f"of real photographs and fakes of every bundled generator", report["table"],
        columns=("n", "ap", "roc_auc", "real_accuracy", "fake_accuracy"),
        headers=("images", "AP", "ROC-AUC", "real acc.", "fake acc."), first="origin"))
    row = report.get("adaptation")
    if row:
        say(f"adapting to the generator it misses most: {row['generator']} ({row['n']} images) AP "
            f"{row['ap_before']:.3f} -> {row['ap_after']:.3f}, caught {row['fake_accuracy_before']:.0%} -> "
            f"{row['fake_accuracy_after']:.0%} (real acc. {row['real_accuracy_after']:.0%}) after `fakescope adapt` "
            f"with {row['examples']} other images of it and {row['examples']} real windows ({row['seconds']:.0f} s; "
            f"{row['checkpoint']}/)")
        if row["ap_after"] <= row["ap_before"]:
            say("  adapt did not learn this one from 5 images: frozen ImageNet features do not see every trace "
                "(README: `fakescope adapt`); check any adapted detector with `fakescope bench` before trusting it")
    say(f"report: {out_dir}/ (scores.json, grid.png)")
