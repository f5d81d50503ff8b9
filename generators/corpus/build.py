"""Building a corpus from a recipe: the generator on the device, a pool of writer threads, resumable and sharded.

Every image has its own seed, derived from the recipe seed and the image's index (fake ``i`` of split ``s``:
``image_seed(seed, i, "fake", s)``; real ``i``: the source's draw ``i``), and on the CPU images are generated in
fixed chunks aligned on the index (:data:`~fakescope.generators.sampling.CPU_CHUNK`), so the bytes of every
file and the manifest do not depend on the batch size, the number of writer threads, the shard layout or
interruptions. Real and fake images go through the same conversion, the same perturbations and the same
encoder, so a detector cannot win by telling one file format from another.

The generator runs batched on the device in the calling thread (:func:`~.batches.generate_fakes`) while a pool
of writer threads encodes, hashes and writes (:func:`~.batches.write_fakes`, :func:`~.batches.write_reals`);
at most ``2 × workers`` blocks wait for the pool, so memory stays flat for any corpus size. Each generator
checkpoint is checked against the recipe once per build (kind, family, pinned sha256) when it is loaded.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from fakescope.core.checkpoint import read_meta
from fakescope.core.corpus import (
    BUILD_DIR,
    CORPUS_FILE,
    FORMAT_VERSION,
    LABEL_DIRS,
    SPLITS,
    CorpusError,
    count_rows,
    manifest_lines,
    sort_rows,
    write_corpus,
)
from fakescope.core.imageio import writing
from fakescope.core.lock import folder_lock
from fakescope.core.progress import Progress
from fakescope.core.version import fakescope_version

from ..gan import GANFamily, checkpoint_folder, load_gan
from ..recipes import Recipe, check_generator, recipe_to_dict
from ..sampling import CPU_CHUNK
from ..sources import RealSource, create_source, split_schemes
from .batches import FakeRequest, GenerateFakes, WriteContext, generate_fakes, write_fakes, write_reals
from .journal import open_journal, prepare_folder
from .plan import BLOCK, CorpusSpec, Shard, Unit, check_corpus_size, plan_units, shard_units


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
    progress: Progress | None = None,
    generate: GenerateFakes = generate_fakes,
    allow_large: bool = False,
) -> dict:
    """Build ``recipe`` (or one shard of it) into ``out``; returns the ``corpus.json`` record.

    ``out`` must be new or empty, unless ``resume`` finishes an interrupted build of the same recipe, shard
    and device there; the build holds its lock (:func:`fakescope.core.lock.folder_lock`: a second build into it is
    refused while this one runs). ``threads`` sets torch's CPU threads for the build's duration (None: unchanged); on a
    small CPU, leaving cores to the ``workers`` writer threads keeps both busy instead of contending.
    ``progress(n)`` is called as files are written (first with the count already done). ``generate`` makes the
    fakes of each run of blocks (default :func:`~.batches.generate_fakes`). More than
    :data:`~.plan.MAX_IMAGES` images are refused (with the estimated disk size) unless ``allow_large``, and so
    is a build whose images would not fit in the free space of ``out``'s file system.
    """
    if isinstance(recipe, CorpusSpec):
        recipe = recipe.recipe()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        with folder_lock(out):  # one writer per corpus folder
            return _build(recipe, Path(out), torch.device(device), batch_size, workers, shard, resume, progress,
                          generate, allow_large)
    finally:
        torch.set_num_threads(previous)


def _build(recipe: Recipe, out: Path, device: torch.device, batch_size: int, workers: int, shard: Shard | None,
           resume: bool, progress: Progress | None, generate: GenerateFakes, allow_large: bool = False) -> dict:
    gans = [load_entry_generator(recipe, i, device) for i in range(len(recipe.fake))]
    size, channels = _image_format(recipe, gans)
    check_corpus_size(recipe, size, channels, shard, allow_large=allow_large, out=None if resume else out)
    identity = _identity(recipe, gans, size, channels, shard, device, batch_size)
    done_rows = prepare_folder(out, identity, resume)
    if done_rows is None:  # already complete
        return json.loads((out / CORPUS_FILE).read_text())
    if resume:  # what is still to write must fit on the disk
        check_corpus_size(recipe, size, channels, shard, allow_large=allow_large, out=out, done=len(done_rows))
    if progress is not None and done_rows:
        progress(len(done_rows))

    units = shard_units(plan_units(recipe), shard)
    ctx = WriteContext(out, recipe, size, channels, ".jpg" if recipe.format == "jpeg" else ".png",
                       set(done_rows), {})
    for spec in recipe.source_specs:
        ctx.sources[spec] = _warm(create_source(spec))
    for split in SPLITS:
        for label in (0, 1):
            (out / split / LABEL_DIRS[label]).mkdir(parents=True, exist_ok=True)

    rows = dict(done_rows)
    with open_journal(out) as journal:

        def collect(batch: list[dict]) -> None:
            with writing(journal.name):
                journal.write(manifest_lines(batch))
                journal.flush()
            for r in batch:
                rows[r["path"]] = r
            if progress is not None and batch:
                progress(len(batch))

        _run(ctx, units, gans, device, batch_size, max(1, workers), collect, generate)

    ordered = sort_rows(recipe_to_dict(recipe), rows.values())
    record = write_corpus(out, ordered, _record(recipe, gans, size, channels, device, identity["determinism"],
                                                ordered, shard))
    shutil.rmtree(out / BUILD_DIR)
    return record


def _run(ctx: WriteContext, units: list[Unit], gans: list[tuple[GANFamily, dict]], device: torch.device,
         batch_size: int, workers: int, collect: Callable[[list[dict]], None], generate: GenerateFakes) -> None:
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
                    submit(write_reals, entry, split, s, min(s + BLOCK, stop))
                continue
            gan, meta = gans[e - n_real]
            request = FakeRequest(gan, entry, split, start, stop, recipe.seed, batch_size, ctx.sources, ctx.size)
            for batch in generate(request):
                for s in range(0, len(batch), BLOCK):
                    submit(write_fakes, entry, gan, meta["sha256"], split, batch.part(s, s + BLOCK))
        while pending:
            collect(pending.popleft().result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _runs(ctx: WriteContext, units: list[Unit]) -> Iterator[tuple[str, int, int, int]]:
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


def _warm(source: RealSource) -> RealSource:
    """Load a source's item list once, before writer threads share it."""
    source.item_ids()
    return source


def load_entry_generator(recipe: Recipe, index: int, device: torch.device) -> tuple[GANFamily, dict]:
    """``recipe.fake[index]``'s GAN on ``device``, its checkpoint checked against the recipe (once per build)."""
    entry = recipe.fake[index]
    folder = checkpoint_folder(Path(entry.checkpoint) if entry.checkpoint else entry.generator)
    check_generator(recipe, index, read_meta(folder))
    return load_gan(folder, device=device)


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
        **_splits(recipe),
    }


def _splits(recipe: Recipe) -> dict:
    """``{"splits": {spec: scheme}}`` when a source splits its items in another than the usual way, else ``{}``
    (so that the identities and records of the usual sources are what they were)."""
    schemes = split_schemes(recipe.source_specs)
    return {"splits": schemes} if schemes else {}


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
        **_splits(recipe),
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
