"""``fakescope demo``: the embedded default, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    SeedOpt,
    metrics_table,
    out,
    progress_bar,
    resolve_device,
)

app = typer.Typer()  # top-level commands: merged into the main app

@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("fakescope-demo"),
    count: Annotated[int, typer.Option(min=2, help="Real and fake images each.")] = 200,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """End to end: sample fakes from the bundled GAN, mix them with held-out real images, score, report."""
    from ..demo import run_demo

    with progress_bar("demo", None) as update:
        report = run_demo(out_dir, count=count, seed=seed, device=resolve_device(device),
                          progress=update)
    out.print(metrics_table(f"fakescope demo: {report['detector']} on {report['generator']} fakes vs "
                            f"held-out real {report['real']}", {"all": report["metrics"]}))
    out.print(f"report: {out_dir}/ (scores.json, grid.png)", highlight=False)
