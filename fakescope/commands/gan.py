"""``fakescope gan``: list, train, sample and export GANs."""

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
    out,
    parse_overrides,
    progress_bar,
    resolve_device,
)

gan_app = typer.Typer(no_args_is_help=True, help="GAN families: list, train, sample.")

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
    ctx: typer.Context,
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
    options = {"data": data, "count": len(real), "command": command_line(ctx)}
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
