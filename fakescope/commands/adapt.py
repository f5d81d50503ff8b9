"""``fakescope adapt``: a few images of a new generator become a detector for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Grid,
    SeedOpt,
    TableOrJson,
    TableOrJsonOpt,
    check_output_folder,
    check_outputs_apart,
    command_line,
    examples,
    fail,
    refuse_under_torchrun,
    resolve_device,
    say,
    show,
)

app = typer.Typer()


def _named_folder(text: str) -> tuple[str, Path]:
    name, sep, where = text.partition("=")
    if not sep or not name or not where:
        raise typer.BadParameter(f"{text!r}: expected NAME=DIR (a generator's name and a folder of its images)")
    return name, Path(where)


@app.command("adapt", epilog=examples(
    "fakescope adapt --fake newgan=suspect/ --out det-newgan/        # 5-50 images of the generator you face",
    "fakescope adapt --fake a=dirA/ --fake b=dirB/ --real mine/ --out det/ && fakescope score -d ./det imgs/",
))
def adapt_command(
    ctx: typer.Context,
    fake: Annotated[list[str], typer.Option("--fake", help="NAME=DIR: images of one generator (repeatable; 1-50 "
                                                           "each is the intended use).")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write (new or empty).")],
    real: Annotated[list[Path] | None, typer.Option("--real", help="A folder of your own real images "
                                                                   "(repeatable; optional).")] = None,
    base: Annotated[str, typer.Option("--from", help="The detector to adapt: a bundled name or a checkpoint "
                                                     "folder (default: the bundled default).")] = "",
    format: TableOrJsonOpt = TableOrJson.table,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Turn a few images of a new generator into a detector for it.

    The base detector is kept whole; a linear head on frozen ImageNet features learns the given fakes against your
    real images (if any) and stored features of the base's own real training images. The threshold and the printed
    estimates come from cross-validation over the given and stored images. The result is an ordinary checkpoint
    folder: `fakescope score -d ./OUT`, `bench`, `--report` and `detectors list` take it.
    """
    refuse_under_torchrun("adapt")
    try:
        fakes = tuple(_named_folder(f) for f in fake)
    except typer.BadParameter as exc:
        raise fail(f"--fake {exc}") from None
    reals = tuple(real or ())
    for name, where in fakes:
        if not where.exists():
            raise fail(f"--fake {name}={where}: no such file or folder", code=1)
    for where in reals:
        if not where.exists():
            raise fail(f"--real {where}: no such file or folder", code=1)
    check_outputs_apart({"--out": out}, [str(w) for _, w in fakes] + [str(w) for w in reals]
                        + ([base] if base else []))
    check_output_folder(out, what="adapted detector", overwrite=False, option="--out")
    from fakescope.core.checkpoint import CheckpointError
    from fakescope.core.lock import FolderLockedError, folder_lock
    from fakescope.detector.adapt import AdaptError, AdaptRequest, adapt

    request = AdaptRequest(fakes=fakes, out=out, reals=reals, base=base or None, seed=seed,
                           device=str(resolve_device(device)), command=command_line(ctx))
    quiet = format == TableOrJson.json
    try:
        with folder_lock(out):
            report = adapt(request, progress=None if quiet else (lambda m: say(m, stderr=True)))
    except (AdaptError, CheckpointError, FolderLockedError) as exc:
        raise fail(str(exc), code=1) from None
    for line in report.skipped:
        say(f"skipped {line}", stderr=True)
    if quiet:
        say(json.dumps(report.to_json(), indent=2))
        return
    grid = Grid(["generator", "images", "cv AP", "caught"], keep=("generator",), right=("images", "cv AP", "caught"))
    for g in report.generators:
        grid.add_row(g.name, g.images, "-" if g.cv_ap is None else f"{g.cv_ap:.3f}",
                 "-" if g.caught is None else f"{g.caught:.0%}")
    show(grid)
    points = ", ".join(f"{k} {v:.3f}" for k, v in report.operating_points.items())
    say(f"threshold {report.threshold:.3f} (balanced); operating points: {points}")
    say(f"reals flagged at the threshold (cross-validated): {report.reals_flagged:.1%} of "
        f"{report.reals_given + report.reals_stored} ({report.reals_given} given, {report.reals_stored} stored)")
    if report.warning:
        say(f"warning: {report.warning}", stderr=True)
    say(f"wrote {report.out} in {report.seconds:.1f} s; score with: fakescope score -d ./{report.out} ...")
