"""Labeled corpora: real images beside generated fakes, in a layout other tools already read.

::

    CORPUS/corpus.json                   recipe, checkpoints, versions, device, determinism flags, counts
    CORPUS/manifest.jsonl                one row per image (path, sha256, label, split, origin, seeds, size)
    CORPUS/{train,val,test}/{0_real,1_fake}/<origin>-<index>.png

A corpus is built from a :class:`~fakescope.generators.recipes.Recipe`. Every image has its own seed, derived from the
recipe seed and the image's index (fake ``i`` of split ``s``: ``image_seed(seed, i, "fake", s)``; real ``i``:
the source's draw ``i``), and on the CPU images are generated in fixed chunks aligned on the index
(:data:`~fakescope.generators.sampling.CPU_CHUNK`), so the bytes of every file and the manifest do not depend on the
batch size, the number of writer threads, the shard layout or interruptions.

Real and fake images go through the same conversion, the same perturbations and the same encoder, so a
detector cannot win by telling one file format from another.

Building: the generator runs batched on the device in the calling thread while a pool of writer threads
encodes, hashes and writes (atomically: a temporary name, then a rename); at most ``2 × workers`` blocks
wait for the pool, so memory stays flat for any corpus size. A build in progress keeps ``.build/state.json``
(what is being built) and ``.build/journal.jsonl`` (one manifest row per finished file); ``resume=True``
rechecks the journal's files against their hashes, deletes partial files and writes only what is missing.
``shard=Shard(i, n)`` builds one slice of the work; :func:`merge_corpora` joins the slices.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from fakescope.core.checkpoint import fakescope_version, write_json_atomic
from fakescope.core.corpus import (
    BUILD_DIR,
    CORPUS_FILE,
    FORMAT_VERSION,
    LABEL_DIRS,
    SPLITS,
    CorpusError,
    count_rows,
    manifest_lines,
    read_manifest,
    read_record,
    sort_rows,
    verify_corpus,
    write_manifest,
)
from fakescope.core.imageio import (
    encode_jpeg,
    encode_png,
    resize,
    set_channels,
    sha256_bytes,
    sha256_file,
    write_bytes_atomic,
)
from fakescope.core.perturb import apply_perturbation
from fakescope.core.seeding import derive_seed, numpy_rng

from .gan import GANFamily, load_gan
from .recipes import FakeEntry, RealEntry, Recipe, RecipeError, parse_recipe, recipe_to_dict
from .sampling import CPU_CHUNK, generate_range, image_seed
from .sources import RealSource, create_source

STATE_FILE = "state.json"
JOURNAL_FILE = "journal.jsonl"

#: Images per unit of work. Shards split a corpus on these blocks; a multiple of CPU_CHUNK so that a shard
#: never regenerates images that belong to another.
BLOCK = CPU_CHUNK


@dataclass(frozen=True)
class CorpusSpec:
    """The simplest recipe: one real source against one generator checkpoint, ``counts[split]`` per class."""

    real: str  # a real source spec: digits, faces, photos, folder:PATH
    generator: str  # a bundled GAN checkpoint name or a checkpoint folder
    counts: dict[str, int] = field(default_factory=lambda: {"train": 500, "val": 100, "test": 100})
    size: int | None = None  # image side; None: the generator's
    channels: int | None = None  # 1 or 3; None: the generator's
    seed: int = 0

    def recipe(self) -> Recipe:
        data: dict = {"name": "corpus", "seed": self.seed, "counts": dict(self.counts),
                      "real": [{"source": self.real}], "fake": [{"generator": self.generator}]}
        data.update({k: v for k, v in (("size", self.size), ("channels", self.channels)) if v is not None})
        return parse_recipe(data, name="corpus")


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` of ``count`` (0-based), written ``i/n`` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise CorpusError(f"shard {self.index}/{self.count}: expected i/n with 0 <= i < n")

    @classmethod
    def parse(cls, text: str) -> Shard:
        i, sep, n = text.partition("/")
        try:
            return cls(int(i), int(n)) if sep else cls(-1, 0)
        except ValueError:
            raise CorpusError(f"shard {text!r}: expected i/n, e.g. 0/4") from None

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Unit:
    """Images ``start .. stop-1`` of entry ``entry`` (index into ``recipe.entries``) in ``split``."""

    split: str
    entry: int
    start: int
    stop: int


def plan_units(recipe: Recipe) -> list[Unit]:
    """Every block of work, in manifest order: split, then real entries, then fake entries, then index."""
    units = []
    for split in SPLITS:
        for e, entry in enumerate(recipe.entries):
            n = entry.counts.get(split, 0)
            units += [Unit(split, e, s, min(s + BLOCK, n)) for s in range(0, n, BLOCK)]
    return units


def shard_units(units: list[Unit], shard: Shard | None) -> list[Unit]:
    """Shard ``i/n`` takes the ``i``-th of ``n`` contiguous, near-equal runs of blocks."""
    if shard is None:
        return units
    n = len(units)
    return units[shard.index * n // shard.count : (shard.index + 1) * n // shard.count]


def planned_count(recipe: Recipe, shard: Shard | None = None) -> int:
    """How many images a build of ``recipe`` (or one of its shards) writes."""
    return sum(u.stop - u.start for u in shard_units(plan_units(recipe), shard))


# --- building ----------------------------------------------------------------------------------------------------

@dataclass
class _Context:
    """What the writer threads need: the output folder and how every image is converted and stored."""

    out: Path
    recipe: Recipe
    size: int
    channels: int
    suffix: str
    done: set[str]  # paths already written (resume)
    sources: dict[str, RealSource]

    def path(self, entry: RealEntry | FakeEntry, label: int, split: str, index: int) -> str:
        return f"{split}/{LABEL_DIRS[label]}/{entry.name}-{index:06d}{self.suffix}"


def build_corpus(
    recipe: Recipe | CorpusSpec,
    out: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    workers: int = 2,
    shard: Shard | None = None,
    resume: bool = False,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Build ``recipe`` (or one shard of it) into ``out``; returns the ``corpus.json`` record.

    ``out`` must be new or empty, unless ``resume`` finishes an interrupted build of the same recipe, shard
    and device there. ``threads`` sets torch's CPU threads for the build's duration (None: unchanged); on a
    small CPU, leaving cores to the ``workers`` writer threads keeps both busy instead of contending.
    ``progress(n)`` is called as files are written (first with the count already done).
    """
    if isinstance(recipe, CorpusSpec):
        recipe = recipe.recipe()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        return _build(recipe, Path(out), torch.device(device), batch_size, workers, shard, resume, progress)
    finally:
        torch.set_num_threads(previous)


def _build(recipe: Recipe, out: Path, device: torch.device, batch_size: int, workers: int, shard: Shard | None,
           resume: bool, progress: Callable[[int], None] | None) -> dict:
    gans = [_load_generator(entry, device) for entry in recipe.fake]
    size, channels = _image_format(recipe, gans)
    identity = _identity(recipe, gans, size, channels, shard, device, batch_size)
    done_rows = _prepare_folder(out, identity, resume)
    if done_rows is None:  # already complete
        return json.loads((out / CORPUS_FILE).read_text())
    if progress is not None and done_rows:
        progress(len(done_rows))

    units = shard_units(plan_units(recipe), shard)
    ctx = _Context(out, recipe, size, channels, ".jpg" if recipe.format == "jpeg" else ".png",
                   set(done_rows), {})
    for e in recipe.real:
        ctx.sources[e.source] = _warm(create_source(e.source))
    for e in recipe.fake:
        if e.input is not None:
            ctx.sources[e.input] = _warm(create_source(e.input))
    for split in SPLITS:
        for label in (0, 1):
            (out / split / LABEL_DIRS[label]).mkdir(parents=True, exist_ok=True)

    rows = dict(done_rows)
    with open(out / BUILD_DIR / JOURNAL_FILE, "a") as journal:

        def collect(batch: list[dict]) -> None:
            journal.write(manifest_lines(batch))
            journal.flush()
            for r in batch:
                rows[r["path"]] = r
            if progress is not None and batch:
                progress(len(batch))

        _run(ctx, units, gans, device, batch_size, max(1, workers), collect)

    ordered = sort_rows(recipe_to_dict(recipe), rows.values())
    write_manifest(out, ordered)
    record = _record(recipe, gans, size, channels, device, identity["determinism"], ordered, shard)
    write_json_atomic(out / CORPUS_FILE, record)
    shutil.rmtree(out / BUILD_DIR)
    return record


def _run(ctx: _Context, units: list[Unit], gans: list[tuple[GANFamily, dict]], device: torch.device,
         batch_size: int, workers: int, collect: Callable[[list[dict]], None]) -> None:
    """Generate on the device in this thread; encode and write in ``workers`` threads (bounded queue)."""
    recipe = ctx.recipe
    n_real = len(recipe.real)
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="corpus-writer")

    def submit(fn, *args) -> None:
        while len(pending) >= 2 * workers:  # bounded: memory stays flat for any corpus size
            collect(pending.popleft().result())
        pending.append(pool.submit(fn, ctx, *args))

    try:
        for split, e, start, stop in _runs(ctx, units):
            entry = recipe.entries[e]
            if e < n_real:
                for s in range(start, stop, BLOCK):
                    submit(_write_real, entry, split, s, min(s + BLOCK, stop))
                continue
            gan, meta = gans[e - n_real]
            if gan.kind == "translate":
                batches = _translate_range(gan, ctx, entry, split, start, stop, batch_size)
            else:
                seed_of = _fake_seed_fn(recipe.seed, split)
                batches = ((f, x, None) for f, x in generate_range(gan, seed_of, start, stop, batch_size=batch_size))
            for first, images, inputs in batches:
                pixels = _to_uint8_batch(images)  # [B, H, W, C]
                for s in range(0, len(pixels), BLOCK):
                    submit(_write_fake, entry, gan, meta, split, first + s, pixels[s : s + BLOCK],
                           None if inputs is None else inputs[s : s + BLOCK])
        while pending:
            collect(pending.popleft().result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _runs(ctx: _Context, units: list[Unit]) -> Iterator[tuple[str, int, int, int]]:
    """Merge consecutive blocks that still need work into ``(split, entry, start, stop)`` runs."""
    run: list | None = None
    for u in units:
        entry = ctx.recipe.entries[u.entry]
        label = 0 if u.entry < len(ctx.recipe.real) else 1
        if all(ctx.path(entry, label, u.split, i) in ctx.done for i in range(u.start, u.stop)):
            continue
        if run is not None and (run[0], run[1], run[3]) == (u.split, u.entry, u.start):
            run[3] = u.stop
            continue
        if run is not None:
            yield tuple(run)
        run = [u.split, u.entry, u.start, u.stop]
    if run is not None:
        yield tuple(run)


def _translate_range(gan: GANFamily, ctx: _Context, entry: FakeEntry, split: str, start: int, stop: int,
                     batch_size: int) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
    """Translate input images ``start .. stop-1``; yields ``(first, images [B, C, H, W], input metadata)``.

    Inputs are drawn at the generator's native size; on the CPU each image gets its own forward pass
    (:func:`~fakescope.generators.translate.translate_images`), so bytes do not depend on the batch.
    """
    from .translate import translate_images

    c, h, _ = gan.image_shape
    source = ctx.sources[entry.input]
    for base in range(start, stop, batch_size):
        drawn = source.draw(min(batch_size, stop - base), size=h, channels=c, split=entry.input_split or split,
                            seed=_input_seed(ctx.recipe.seed, entry), start=base)
        images = translate_images(gan, drawn.images.to(gan.device), entry.direction, batch_size=batch_size)
        yield base, images, drawn.meta


def _write_real(ctx: _Context, entry: RealEntry, split: str, start: int, stop: int) -> list[dict]:
    drawn = ctx.sources[entry.source].draw(stop - start, size=ctx.size, channels=ctx.channels, split=split,
                                           seed=ctx.recipe.seed, start=start)
    pixels = _to_uint8_batch(drawn.images)
    rows = []
    for j, (image, meta) in enumerate(zip(pixels, drawn.meta, strict=True)):
        index = start + j
        path = ctx.path(entry, 0, split, index)
        if path in ctx.done:
            continue
        row = {"label": 0, "split": split, "index": index, "origin": entry.name, "source": meta["source"],
               "source_image": meta["item"], "crop": meta.get("crop")}
        rows.append(_store(ctx, path, image, row))
    return rows


def _write_fake(ctx: _Context, entry: FakeEntry, gan: GANFamily, meta: dict, split: str, first: int,
                pixels: np.ndarray, inputs: list[dict] | None) -> list[dict]:
    rows = []
    for j, image in enumerate(pixels):
        index = first + j
        path = ctx.path(entry, 1, split, index)
        if path in ctx.done:
            continue
        row = {"label": 1, "split": split, "index": index, "origin": entry.name, "generator": gan.name,
               "checkpoint": entry.generator, "checkpoint_sha256": meta["sha256"]}
        if inputs is None:
            row["seed"] = image_seed(ctx.recipe.seed, index, "fake", split)
        else:  # an image-to-image fake names the real image it was translated from
            row.update({"input": entry.input, "input_split": entry.input_split or split,
                        "input_seed": _input_seed(ctx.recipe.seed, entry), "direction": entry.direction,
                        "source_image": inputs[j]["item"], "crop": inputs[j].get("crop")})
        rows.append(_store(ctx, path, image, row))
    return rows


def _store(ctx: _Context, path: str, image: np.ndarray, row: dict) -> dict:
    """Convert, perturb, encode and write one image; returns its manifest row."""
    image = resize(set_channels(image, ctx.channels), ctx.size)  # [H, W, C] uint8
    for k, p in enumerate(ctx.recipe.perturbations):
        image = apply_perturbation(image, p, numpy_rng(ctx.recipe.seed, "perturb", k, path))
    data = _encode(image, ctx.recipe)
    write_bytes_atomic(ctx.out / path, data)
    kept = {k: v for k, v in row.items() if v is not None}
    return {"path": path, "sha256": sha256_bytes(data), "size": [image.shape[0], image.shape[1]], **kept}


def _encode(image: np.ndarray, recipe: Recipe) -> bytes:
    return encode_png(image) if recipe.format == "png" else encode_jpeg(image, recipe.quality)


def _to_uint8_batch(images: torch.Tensor) -> np.ndarray:
    """``[B, C, H, W]`` float in [-1, 1] → ``uint8 [B, H, W, C]`` (same rounding as ``imageio.to_uint8``)."""
    arr = images.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return arr.permute(0, 2, 3, 1).contiguous().numpy()


def _fake_seed_fn(seed: int, split: str) -> Callable[[int], int]:
    return lambda i: image_seed(seed, i, "fake", split)


def _input_seed(seed: int, entry: FakeEntry) -> int:
    """The draw seed of an image-to-image entry's inputs (apart from the real entries' draws)."""
    return derive_seed(seed, "input", entry.name)


def _warm(source: RealSource) -> RealSource:
    """Load a source's item list once, before writer threads share it."""
    source.item_ids()
    return source


def _load_generator(entry: FakeEntry, device: torch.device) -> tuple[GANFamily, dict]:
    gan, meta = load_gan(entry.checkpoint or entry.generator, device=device)
    if gan.kind == "translate":
        from .translate import check_translator

        try:
            check_translator(gan, entry.direction or "")
        except ValueError as exc:
            raise RecipeError(f"generator {entry.generator!r}: {exc}") from None
    if entry.sha256 is not None and meta["sha256"] != entry.sha256:
        raise RecipeError(f"generator {entry.generator!r}: sha256 {meta['sha256']} differs from the pinned "
                          f"{entry.sha256}")
    return gan, meta


def _image_format(recipe: Recipe, gans: list[tuple[GANFamily, dict]]) -> tuple[int, int]:
    if (recipe.size is None or recipe.channels is None) and not gans:
        raise CorpusError(f"recipe {recipe.name!r}: give size and channels (there is no generator to take them from)")
    c, h, _ = gans[0][0].image_shape if gans else (None, None, None)
    return recipe.size or h, recipe.channels or c


def _determinism(device: torch.device, batch_size: int) -> dict:
    """How reproducible the bytes are, as recorded in corpus.json."""
    if device.type == "cpu":
        return {"device_type": "cpu", "chunk": CPU_CHUNK, "byte_exact_across_batch_sizes": True,
                "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    return {
        "device_type": device.type,
        "batch_size": batch_size,
        "byte_exact_across_batch_sizes": False,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _identity(recipe: Recipe, gans, size: int, channels: int, shard: Shard | None, device: torch.device,
              batch_size: int) -> dict:
    """What a build writes; a resumed build must match it exactly."""
    return {
        "recipe": recipe_to_dict(recipe),
        "checkpoints": [meta["sha256"] for _, meta in gans],
        "image": {"size": size, "channels": channels},
        "shard": None if shard is None else {"index": shard.index, "count": shard.count},
        "determinism": _determinism(device, batch_size),
    }


def _prepare_folder(out: Path, identity: dict, resume: bool) -> dict[str, dict] | None:
    """Start or resume a build in ``out``: the rows already written, or None when the corpus is complete."""
    build = out / BUILD_DIR
    state = build / STATE_FILE
    contents = [p for p in out.iterdir() if p.name != BUILD_DIR or state.exists()] if out.is_dir() else []
    if out.exists() and not out.is_dir():
        raise CorpusError(f"{out} exists and is not a folder")
    if contents and not resume:
        hint = "an interrupted build: pass --resume to finish it" if state.exists() else "choose a new folder"
        raise CorpusError(f"{out} is not empty ({hint}); a build never mixes corpora")
    if contents:
        if state.exists():
            previous = json.loads(state.read_text())
            if previous != identity:
                words = {"recipe": "recipe", "checkpoints": "checkpoint", "image": "image format", "shard": "shard",
                         "determinism": "device (or CUDA batch size)"}
                what = [words[k] for k in identity if previous.get(k) != identity[k]]
                raise CorpusError(f"{out} holds an interrupted build with another {', '.join(what)}; "
                                  "resume it with the same recipe, shard and device, or choose a new folder")
            _remove_partial_files(out)
            return _verified_journal(out)
        if (out / CORPUS_FILE).is_file():
            record = json.loads((out / CORPUS_FILE).read_text())
            if record.get("recipe") == identity["recipe"] and record.get("shard") == identity["shard"] \
                    and not verify_corpus(out)["changed"]:
                return None
            raise CorpusError(f"{out} holds a finished corpus of another recipe or shard; choose a new folder")
        raise CorpusError(f"{out} is not empty and holds no interrupted build to resume; choose a new folder")
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    write_json_atomic(state, identity)
    (build / JOURNAL_FILE).touch()
    return {}


def _remove_partial_files(out: Path) -> None:
    for split in SPLITS:
        for label_dir in LABEL_DIRS.values():
            folder = out / split / label_dir
            if folder.is_dir():
                for p in folder.glob(".*.tmp"):
                    p.unlink()


def _verified_journal(out: Path) -> dict[str, dict]:
    """Rows of the journal whose files exist with the recorded hash; the journal is rewritten to just those."""
    path = out / BUILD_DIR / JOURNAL_FILE
    rows: dict[str, dict] = {}
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the line being written when the build was killed
            continue
        file = out / row["path"]
        if file.is_file() and sha256_file(file) == row["sha256"]:
            rows[row["path"]] = row
        else:
            rows.pop(row["path"], None)
    write_bytes_atomic(path, manifest_lines(rows.values()).encode())
    return rows


def _record(recipe: Recipe, gans, size: int, channels: int, device: torch.device, determinism: dict,
            rows: list[dict], shard: Shard | None) -> dict:
    image = {"size": size, "channels": channels, "format": recipe.format,
             "perturbations": recipe_to_dict(recipe)["perturbations"]}
    if recipe.quality is not None:
        image["quality"] = recipe.quality
    record = {
        "format_version": FORMAT_VERSION,
        "name": recipe.name,
        "recipe": recipe_to_dict(recipe),
        "image": image,
        "generators": [
            {"name": e.name, "checkpoint": e.generator, "family": gan.name, "kind": gan.kind,
             "sha256": meta["sha256"], "native": list(gan.image_shape)}
            for e, (gan, meta) in zip(recipe.fake, gans, strict=True)
        ],
        "sources": [{"name": e.name, "source": e.source} for e in recipe.real],
        "device": str(device),
        "determinism": determinism,
        "versions": _versions(),
        "counts": count_rows(rows),
        "expected": _expected_counts(recipe),
    }
    if shard is not None:
        record["shard"] = {"index": shard.index, "count": shard.count}
    return record


def _expected_counts(recipe: Recipe) -> dict:
    return {s: {"real": recipe.count(0, s), "fake": recipe.count(1, s)} for s in SPLITS}


def _versions() -> dict:
    return {
        "fakescope": fakescope_version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


# --- merging -----------------------------------------------------------------------------------------------------

def merge_corpora(shards: list[str | os.PathLike], out: str | os.PathLike, *, move: bool = False,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Join the complete shards ``0/n .. n-1/n`` of one recipe into ``out`` (a new or empty folder).

    The result is what an unsharded build of the recipe writes: the same files, manifest and ``corpus.json``.
    Files are copied (``move``: renamed, leaving the shard folders empty of images) and rechecked on the way.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CorpusError(f"{out} is not empty; choose a new folder for the merged corpus")
    records = []
    for s in shards:
        s = Path(s)
        if (s / BUILD_DIR).is_dir():
            raise CorpusError(f"{s}: an interrupted build; finish it with --resume before merging")
        rec = read_record(s)
        if not rec:
            raise CorpusError(f"{s}: not a corpus (no {CORPUS_FILE})")
        if rec.get("shard") is None:
            raise CorpusError(f"{s}: not a shard (built without --shard)")
        records.append((s, rec))
    first = records[0][1]
    n = first["shard"]["count"]
    for s, rec in records:
        for key in ("recipe", "image", "generators", "sources"):
            if rec.get(key) != first.get(key):
                raise CorpusError(f"{s}: a shard of another recipe ({key} differs from {records[0][0]})")
        if rec["shard"]["count"] != n:
            raise CorpusError(f"{s}: shard {rec['shard']['index']}/{rec['shard']['count']}, others are /{n}")
    have = sorted(rec["shard"]["index"] for _, rec in records)
    if have != list(range(n)):
        dupes = sorted({i for i in have if have.count(i) > 1})
        lacking = sorted(set(range(n)) - set(have))
        raise CorpusError("shards do not cover the recipe: " + "; ".join(
            ([f"missing {', '.join(f'{i}/{n}' for i in lacking)}"] if lacking else [])
            + ([f"repeated {', '.join(f'{i}/{n}' for i in dupes)}"] if dupes else [])))

    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    for s, _ in records:
        for r in read_manifest(s):
            if r["path"] in rows:
                raise CorpusError(f"{s}: {r['path']} is also in another shard")
            src, dst = s / r["path"], out / r["path"]
            if not src.is_file() or sha256_file(src) != r["sha256"]:
                raise CorpusError(f"{s}: {r['path']} is missing or changed; rebuild that shard")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(src, dst)
            else:
                shutil.copyfile(src, dst)
            rows[r["path"]] = r
            if progress is not None:
                progress(1)
    ordered = sort_rows(first["recipe"], rows.values())
    write_manifest(out, ordered)
    record = {k: v for k, v in first.items() if k != "shard"}
    record["counts"] = count_rows(ordered)
    devices = {json.dumps([rec["device"], rec["determinism"], rec["versions"]], sort_keys=True)
               for _, rec in records}
    if len(devices) > 1:
        record["shards"] = [{"shard": rec["shard"], "device": rec["device"], "determinism": rec["determinism"],
                             "versions": rec["versions"]} for _, rec in records]
    write_json_atomic(out / CORPUS_FILE, record)
    return record
