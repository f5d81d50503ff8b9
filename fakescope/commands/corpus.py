"""``fakescope corpus``: build labeled real/fake corpora from recipes; verify, describe, merge and list them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import (
    DeviceOpt,
    Format,
    FormatOpt,
    Grid,
    TableOrJson,
    TableOrJsonOpt,
    check_outputs_apart,
    check_writable_folder,
    error_line,
    examples,
    fail,
    fail_on,
    is_main_rank,
    join_ranks,
    progress_bar,
    refuse_under_torchrun,
    resolve_device,
    say,
    show,
)

corpus_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Labeled real/fake corpora: build from a recipe, import folders, verify, stats, merge "
                              "shards, recipes.")

_RECIPE_HELP = "Recipe file or name in datasets/ (e.g. digits-vanilla); without it, --real/--generator/--train..."


def _errors() -> tuple[type[Exception], ...]:
    from fakescope.core.checkpoint import CheckpointError

    return (CheckpointError, ValueError, KeyError, OSError)


@corpus_app.command("build", epilog=examples(
    "fakescope corpus build digits-vanilla --out corpus/",
    "fakescope corpus build --real digits --generator vanilla-digits --train 1000 --val 200 --test 200 --out corpus/"))
def corpus_build(
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus folder (new or empty, or an interrupted build "
                                                        "with --resume).")],
    recipe: Annotated[str | None, typer.Argument(help=_RECIPE_HELP, show_default=False)] = None,
    real: Annotated[str | None, typer.Option(help="Without RECIPE: real source (default digits).")] = None,
    generator: Annotated[str | None, typer.Option(help="Without RECIPE: GAN checkpoint (default vanilla-digits).")
                         ] = None,
    train: Annotated[int | None, typer.Option(min=0, help="Without RECIPE: train images per class (500).")] = None,
    val: Annotated[int | None, typer.Option(min=0, help="Without RECIPE: validation images per class (100).")] = None,
    test: Annotated[int | None, typer.Option(min=0, help="Without RECIPE: test images per class (100).")] = None,
    size: Annotated[int | None, typer.Option(help="Without RECIPE: image side (default: the generator's).")] = None,
    channels: Annotated[int | None, typer.Option(help="Without RECIPE: 1 or 3 (default: the generator's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Without RECIPE: the corpus seed (0).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass on CUDA (the CPU output does "
                                                        "not depend on it).")] = 256,
    workers: Annotated[int, typer.Option(min=1, help="Encoder/writer threads.")] = 2,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads generating on the CPU (default: the "
                                                            "cores the writer threads leave, at least 1).")] = None,
    shard: Annotated[str | None, typer.Option(help="Build slice i of n (i/n, 0-based); join with `corpus merge`.")
                     ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted build in --out.")] = False,
    allow_large: Annotated[bool, typer.Option("--allow-large", help="Build even more than 1,000,000 images (the "
                                                                  "refusal gives the estimated disk size).")]
    = False,
    deterministic: Annotated[bool, typer.Option("--deterministic/--nondeterministic",
                                                help="On CUDA, enforce deterministic algorithms (recorded in "
                                                     "corpus.json).")] = True,
    device: DeviceOpt = "auto",
    format: Annotated[TableOrJson, typer.Option("--format", "-f", help="table (for people) or json (corpus.json's "
                                                                        "record).")] = TableOrJson.table,
) -> None:
    """Build a labeled corpus from a recipe: byte-identical on the CPU whatever the batch, workers or shards.

    Under torchrun (`torchrun --nproc-per-node N -m fakescope corpus build ...`) each process builds its part and
    rank 0 joins them into --out: the same bytes as one process (on the CPU); resume with the same N.
    """
    from fakescope.core.distributed import from_env
    from fakescope.generators.corpus import (
        CorpusSpec,
        Shard,
        build_corpus,
        build_corpus_ranks,
        check_corpus_size,
        planned_count,
    )
    from fakescope.generators.recipes import load_recipe

    legacy = {"real": real, "generator": generator, "train": train, "val": val, "test": test, "size": size,
              "channels": channels, "seed": seed}
    try:
        if recipe is not None:
            given = [f"--{k}" for k, v in legacy.items() if v is not None]
            if given:
                raise fail(f"{', '.join(given)}: only without a RECIPE (a recipe fixes them)")
            plan = load_recipe(recipe, check=False)  # the build checks each checkpoint, once
        else:
            plan = CorpusSpec(real=real or "digits", generator=generator or "vanilla-digits",
                              counts={"train": 500 if train is None else train, "val": 100 if val is None else val,
                                      "test": 100 if test is None else test},
                              size=size, channels=channels, seed=seed or 0).recipe()
        try:
            part = Shard.parse(shard) if shard is not None else None
        except ValueError as exc:
            raise fail(f"--{exc}") from None  # "--shard TEXT: expected i/n ..."
        env = from_env()
        if env.active and part is not None:
            raise fail("--shard: not under torchrun (each process already builds its own shard)")
        check_corpus_size(plan, plan.size, plan.channels, part, allow_large=allow_large,  # before any planning
                          out=None if resume else out_dir)
        check_outputs_apart({"--out": out_dir}, folders=_read_folders(plan))
        check_writable_folder(out_dir)
        dev = resolve_device(device)
        if dev.type == "cuda" and deterministic:
            _enforce_cuda_determinism()
        ranks = join_ranks(dev, tensors=False)
        if ranks.active:
            part = Shard(ranks.rank, ranks.size)  # what rank 0's progress bar counts
        with progress_bar(f"building {plan.name}", planned_count(plan, part), unit="images",
                          enabled=format != TableOrJson.json) as update:
            if threads is None and dev.type == "cpu":  # the cores left by the writers, shared by this node's ranks
                threads = max(1, ((os.cpu_count() or 1) - workers * ranks.local_size) // ranks.local_size)
            options = dict(device=dev, batch_size=batch_size, workers=workers, resume=resume, threads=threads,
                           progress=update, allow_large=allow_large)
            if ranks.active:
                record = build_corpus_ranks(plan, out_dir, ranks=ranks, **options)
            else:
                record = build_corpus(plan, out_dir, shard=part, **options)
    except _errors() as exc:
        raise fail_on(exc) from None
    if not is_main_rank():
        return
    if format == TableOrJson.json:
        sys.stdout.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return
    counts = ", ".join(f"{s} {c['real']} real/{c['fake']} fake" for s, c in record["counts"].items())
    where = f" (shard {record['shard']['index']}/{record['shard']['count']})" if "shard" in record else ""
    say(f"corpus {out_dir}{where}: {counts}")


def _read_folders(plan) -> list[Path]:
    """The folders a build reads: its folder: sources and the generator checkpoints given as folders."""
    from fakescope.generators.sources import source_folder

    sources = [f for spec in plan.source_specs if (f := source_folder(spec)) is not None]
    return sources + [Path(e.checkpoint) for e in plan.fake if e.checkpoint and Path(e.checkpoint).is_dir()]


def _enforce_cuda_determinism() -> None:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@corpus_app.command("import", epilog=examples(
    "fakescope corpus import --real photos/ --fake sdxl=sdxl-images/ --out mine/",
    "fakescope corpus import --real photos/ --fake sdxl=sdxl-images/ --split train=0.8,val=0.1,test=0.1 "
    "--match-format png --out mine/"))
def corpus_import(
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus folder (new or empty).")],
    real: Annotated[list[str] | None, typer.Option("--real", help="Folder of real images, DIR or NAME=DIR "
                                                                  "(repeatable).")] = None,
    fake: Annotated[list[str] | None, typer.Option("--fake", help="Folder of one generator's images, NAME=DIR "
                                                                  "(repeatable).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Shares per split, e.g. train=0.8,val=0.1,test=0.1 "
                                                             "(default: everything in test).")] = None,
    match_format: Annotated[str | None, typer.Option(
        "--match-format", help="Re-encode both classes alike: png or jpeg:QUALITY (default: files kept as found, "
                               "and a difference in formats is reported).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 0,
    format: Annotated[TableOrJson, typer.Option("--format", "-f", help="table (for people) or json (corpus.json's "
                                                                        "record).")] = TableOrJson.table,
) -> None:
    """Images made elsewhere become a labeled corpus: every file walked, checked, hashed and stored in the standard
    layout with a manifest row naming its origin and source file. Duplicates (same content) are kept once and
    reported; unreadable files are listed and skipped (exit status 1)."""
    from fakescope.core.corpus_import import import_corpus, parse_folder, parse_match_format, parse_splits
    from fakescope.core.safety import OutputFolderError

    refuse_under_torchrun("corpus import")
    if not real or not fake:
        raise fail("give at least one --real DIR and one --fake NAME=DIR")
    try:
        folders = [parse_folder(d, 0) for d in real] + [parse_folder(d, 1) for d in fake]
        shares = parse_splits(split)
        matched = parse_match_format(match_format)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for spec, f in zip([*real, *fake], folders, strict=True):  # before anything is written: one class is no corpus
        if not f.path.is_dir():
            raise fail(f"{'--fake' if f.label else '--real'} {spec}: {f.path} is not a folder")
    origins = [(f.label, f.origin) for f in folders]
    if len(set(origins)) != len(origins):
        raise fail("two folders of one class share a name: give each NAME=DIR its own NAME")
    from fakescope.core.safety import check_output_folder

    check_outputs_apart({"--out": out_dir}, [f.path for f in folders])  # --out inside a folder: never walked
    try:
        check_output_folder(out_dir, what="corpus", overwrite=False)
    except OutputFolderError as exc:
        raise fail(str(exc), code=1) from None
    errors: list[str] = []

    def problem(message: str) -> None:
        errors.append(message)
        error_line(message)

    try:
        with progress_bar("importing", None, unit="files", enabled=format != TableOrJson.json) as update:
            record = import_corpus(folders, out_dir, shares=shares, seed=seed, match_format=matched,
                                   on_error=problem, progress=update)
    except _errors() as exc:
        raise fail_on(exc) from None
    if format == TableOrJson.json:
        sys.stdout.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    else:
        counts = ", ".join(f"{s} {c['real']} real/{c['fake']} fake" for s, c in record["counts"].items()
                           if c["real"] or c["fake"])
        say(f"corpus {out_dir}: {counts}; stored {record['match_format']}")
        for line in record["duplicates"]:
            say(f"  duplicate, left out: {line}")
        if record["formats_differ"]:
            say(f"  warning: real and fake images are stored in different formats ({record['formats']}); "
                "a detector could tell them apart by format alone: use --match-format png or jpeg:Q")
    if errors:
        raise typer.Exit(1)


@corpus_app.command("verify", epilog=examples(
    "fakescope corpus verify corpus/", "fakescope corpus verify corpus/ --regenerate 50"))
def corpus_verify(
    corpus: Annotated[Path, typer.Argument(help="Corpus folder.")],
    format: TableOrJsonOpt = TableOrJson.table,
    regenerate: Annotated[int, typer.Option(min=0, help="Also make N images (spread over the manifest, real and "
                                                        "fake) again from the recipe and compare their bytes.")] = 0,
    recipe: Annotated[str | None, typer.Option(help="With --regenerate: the recipe file the corpus was built from "
                                                    "(default: the recipe corpus.json records, when its generators "
                                                    "are bundled names or absolute paths).")] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Recheck every file's sha256, the counts, each row's label against its folder and origin, and the manifest
    against the hash corpus.json records; exit 1 on any missing, changed, extra, duplicate or mislabelled file or an
    edited manifest. With --regenerate N, also rebuild N images from their manifest rows: a file replaced together
    with its row's hash (and the manifest's hash in corpus.json) passes the hash checks, not this one."""
    from fakescope.core.corpus import verify_corpus

    try:
        report = verify_corpus(corpus)
    except _errors() as exc:
        raise fail_on(exc) from None
    if regenerate:
        report["regenerated"] = _regenerate(corpus, recipe, regenerate, device)
        report["ok"] = report["ok"] and not report["regenerated"]["differ"]
    if format == TableOrJson.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        say(f"{corpus}: {report['checked']} files checked, {len(report['missing'])} missing, "
            f"{len(report['changed'])} changed, {len(report['extra'])} extra, "
            f"{len(report['duplicates'])} duplicate, {len(report['mislabelled'])} mislabelled, "
            f"{len(report['refused'])} refused: {'ok' if report['ok'] else 'FAILED'}")
        if report["incomplete"]:
            say("  incomplete: an interrupted build (finish it with `corpus build ... --resume`)")
        for kind in ("missing", "changed", "extra", "duplicates", "refused", "counts", "mislabelled", "manifest"):
            for item in report[kind]:
                say(f"  {kind}: {item}")
        for note in report["notes"]:
            say(f"  note: {note}")
        if regenerate:
            regen = report["regenerated"]
            say(f"  regenerated {regen['checked']} images from the recipe: {len(regen['differ'])} differ")
            for path in regen["differ"]:
                say(f"  differs from its regeneration: {path}")
    if not report["ok"]:
        raise typer.Exit(1)


def _regenerate(corpus: Path, recipe_file: str | None, count: int, device: str) -> dict:
    from fakescope.core.corpus import read_record
    from fakescope.generators.corpus.regenerate import check_regeneration
    from fakescope.generators.recipes import RecipeError, load_recipe, recipe_from_record

    try:
        if recipe_file is not None:
            recipe = load_recipe(recipe_file)
        else:
            recorded = read_record(corpus).get("recipe")
            if not isinstance(recorded, dict):
                raise fail(f"{corpus}: corpus.json records no recipe; give --recipe FILE")
            try:
                recipe = recipe_from_record(recorded, origin=f"{corpus}/corpus.json")
            except RecipeError as exc:
                raise fail(f"{exc}; give the recipe file it was built from with --recipe FILE") from None
        return check_regeneration(corpus, recipe, count, device=resolve_device(device))
    except _errors() as exc:
        raise fail_on(exc) from None


@corpus_app.command("stats", epilog=examples("fakescope corpus stats corpus/",
                                             "fakescope corpus stats corpus/ --format json"))
def corpus_stats(
    corpus: Annotated[Path, typer.Argument(help="Corpus folder.")],
    format: FormatOpt = Format.table,
) -> None:
    """Counts per split, label and origin (real source or generator), image sizes."""
    from fakescope.core.corpus import SPLITS
    from fakescope.core.corpus import corpus_stats as stats_of

    try:
        stats = stats_of(corpus)
    except _errors() as exc:
        raise fail_on(exc) from None
    if format == Format.json:
        sys.stdout.write(json.dumps(stats, indent=2) + "\n")
        return
    grid = Grid(["origin", "label", "kind", *SPLITS, "total"], keep=("origin",), right=(*SPLITS, "total"),
                title=f"{corpus}: {stats['images']} images, {stats['bytes']:,} bytes")
    for name, o in stats["origins"].items():
        grid.add_row(name, o["label"], o["kind"], *(str(o.get(s, 0)) for s in SPLITS), str(o["total"]))
    for label in ("real", "fake"):
        grid.add_row(f"all {label}", label, "", *(str(stats["counts"].get(s, {}).get(label, 0)) for s in SPLITS),
                     str(sum(c.get(label, 0) for c in stats["counts"].values())))
    if format == Format.csv:
        sys.stdout.write(grid.csv())
        return
    show(grid)
    sizes = ", ".join(f"{k} ({v})" for k, v in stats["sizes"].items())
    stored = "; ".join(f"{kind} " + ", ".join(f"{f} {n}" for f, n in sorted(counts.items()))
                       for kind, counts in stats["formats"].items() if counts)
    say(f"sizes (width x height): {sizes}; channels: {stats['channels']}; format: {stats['format']} ({stored})")


@corpus_app.command("merge", epilog=examples(
    "fakescope corpus merge part0/ part1/ part2/ part3/ --out all/  # shards of --shard i/4"))
def corpus_merge(
    shards: Annotated[list[Path], typer.Argument(help="The shard folders 0/n .. n-1/n of one recipe.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Merged corpus folder (new or empty).")],
    move: Annotated[bool, typer.Option("--move", help="Move files instead of copying them.")] = False,
) -> None:
    """Join shards built with `corpus build --shard i/n` into the corpus an unsharded build writes."""
    from fakescope.core.corpus import read_record
    from fakescope.generators.corpus import merge_corpora

    check_outputs_apart({"--out": out_dir}, folders=shards)
    try:
        total = sum(sum(c["real"] + c["fake"] for c in read_record(s).get("counts", {}).values()) for s in shards)
        with progress_bar("merging", total, unit="images") as update:
            record = merge_corpora(shards, out_dir, move=move, progress=update)
    except _errors() as exc:
        raise fail_on(exc) from None
    counts = ", ".join(f"{s} {c['real']} real/{c['fake']} fake" for s, c in record["counts"].items())
    say(f"corpus {out_dir}: {counts}")


@corpus_app.command("recipes", epilog=examples("fakescope corpus recipes", "fakescope corpus recipes --format json"))
def corpus_recipes(format: FormatOpt = Format.table) -> None:
    """The recipes in datasets/: name, images, generators, and whether their checkpoints are here."""
    from fakescope.generators.recipes import check_generators, list_recipes, load_recipe

    rows = []
    for name, path in list_recipes().items():
        try:  # each checkpoint's config.json, never its family's code: listing never loads torch
            r = load_recipe(path, check=False)
            check_generators(r, where=str(path), kinds=False)
            rows.append({"name": name, "path": str(path), "description": r.description,
                         "images": sum(sum(e.counts.values()) for e in r.entries),
                         "generators": [e.generator for e in r.fake], "sources": [e.source for e in r.real],
                         "error": None})
        except _errors() as exc:
            rows.append({"name": name, "path": str(path), "error": str(exc)})
    if format == Format.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    grid = Grid(["name", "images", "real", "fake", "description"], title="corpus recipes", keep=("name",),
                right=("images",))
    for r in rows:
        if r["error"]:
            grid.add_row(r["name"], "-", "-", "-", f"error: {r['error']}", styles={4: "red"})
        else:
            grid.add_row(r["name"], str(r["images"]), ", ".join(r["sources"]), ", ".join(r["generators"]),
                         r["description"])
    if format == Format.csv:
        sys.stdout.write(grid.csv())
        return
    show(grid)
