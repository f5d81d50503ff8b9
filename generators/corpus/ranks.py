"""A corpus build on many processes (torchrun): each rank builds its shard, rank 0 joins them.

Rank ``r`` of ``n`` builds shard ``r/n`` (:func:`~.plan.shard_units`) into ``OUT/.ranks/r-of-n`` with its own
resume journal; after a barrier, rank 0 moves the shards' files into ``OUT`` (:func:`~.merge.merge_corpora`,
which rechecks every hash), writes the manifest and ``corpus.json`` and removes ``.ranks``. Shards are cut on
blocks aligned with the CPU generation chunks, so on the CPU the result has exactly the bytes of a
single-process build. A killed build resumes with ``--resume`` and the same number of processes: each rank
finishes its own shard from its journal, and a merge killed part-way is finished (files already moved count when
their hash is right). ``OUT`` must be on a file system every rank sees (one node, or a shared
file system across nodes).
"""

from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from pathlib import Path

from fakescope.core import distributed
from fakescope.core.corpus import (
    BUILD_DIR,
    CORPUS_FILE,
    MANIFEST_FILE,
    SPLITS,
    CorpusError,
    CorpusFolderError,
)
from fakescope.core.lock import folder_lock
from fakescope.core.safety import LOCK_NAME, SafetyError

from ..recipes import Recipe, recipe_to_dict
from .build import build_corpus
from .journal import check_own_folders, finished_corpus
from .merge import merge_corpora
from .plan import CorpusSpec, Shard

#: Where the ranks keep their shards inside the corpus folder until rank 0 joins them.
RANKS_DIR = ".ranks"
#: What rank 0's merge moves into the corpus folder (besides RANKS_DIR, all a killed merge can leave there).
MERGED_NAMES = (*SPLITS, MANIFEST_FILE, CORPUS_FILE)


def rank_folder(out: str | os.PathLike, rank: int, size: int) -> Path:
    return Path(out) / RANKS_DIR / f"{rank}-of-{size}"


def build_corpus_ranks(recipe: Recipe | CorpusSpec, out: str | os.PathLike, *, ranks: distributed.Ranks,
                       resume: bool = False, **kwargs) -> dict:
    """Build ``recipe`` into ``out`` with this rank's share of the work (collective: every rank calls it).

    ``kwargs`` are :func:`~.build.build_corpus`'s (``device``, ``batch_size``, ``workers``, ``threads``,
    ``progress``, ``allow_large``; not ``shard``). Returns the ``corpus.json`` record on every rank.
    """
    if isinstance(recipe, CorpusSpec):
        recipe = recipe.recipe()
    out = Path(out)
    with ExitStack() as lock:
        error: BaseException | None = None
        try:  # rank 0 holds the folder's lock for the whole build (the other ranks write inside it)
            if ranks.is_main:
                lock.enter_context(folder_lock(out))
        except (SafetyError, OSError) as exc:
            error = exc
        distributed.raise_if_any(error, CorpusError)
        return _build_ranks(recipe, out, ranks, resume, kwargs)


def _build_ranks(recipe: Recipe, out: Path, ranks: distributed.Ranks, resume: bool, kwargs: dict) -> dict:
    done: dict | None = None
    error: BaseException | None = None
    try:
        done = _check_folder(out, recipe, ranks, resume)
    except (CorpusError, OSError) as exc:
        error = exc
    distributed.raise_if_any(error, CorpusError)
    if done is not None:
        return done
    folder = rank_folder(out, ranks.rank, ranks.size)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # a shard already complete (a kill came during rank 0's merge, which may have moved some of its files
        # out) is left as it is; the merge below finishes the move
        if not (resume and (folder / CORPUS_FILE).is_file() and not (folder / BUILD_DIR).exists()):
            build_corpus(recipe, folder, shard=Shard(ranks.rank, ranks.size), resume=resume, **kwargs)
    except Exception as exc:  # noqa: BLE001 — any failure is every rank's failure (see raise_if_any)
        error = exc
    distributed.raise_if_any(error, CorpusError)
    record: dict | None = None
    if ranks.is_main:
        try:
            shards = [rank_folder(out, r, ranks.size) for r in range(ranks.size)]
            record = merge_corpora(shards, out, move=True, scratch=RANKS_DIR, resume=resume)
            shutil.rmtree(out / RANKS_DIR)
        except Exception as exc:  # noqa: BLE001
            error = exc
    distributed.raise_if_any(error, CorpusError)
    return distributed.broadcast(record)


def _check_folder(out: Path, recipe: Recipe, ranks: distributed.Ranks, resume: bool) -> dict | None:
    """Refuse a folder a rank build cannot use; the finished corpus's record when it is already complete."""
    if out.exists() and not out.is_dir():
        raise CorpusFolderError(f"{out} exists and is not a folder")
    contents = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME) if out.is_dir() else []
    scratch = out / RANKS_DIR
    if RANKS_DIR in contents:
        if not resume:
            raise CorpusFolderError(f"{out} is not empty (an interrupted build: pass --resume to finish it); "
                              "a build never mixes corpora")
        check_own_folders(out, [scratch])
        others = sorted(p.name for p in scratch.iterdir())
        mine = [f"{r}-of-{ranks.size}" for r in range(ranks.size)]
        if others and not set(others) <= set(mine):
            raise CorpusError(f"{out} holds an interrupted build of {', '.join(others)}; resume it with the same "
                              f"number of processes (here {ranks.size})")
        if set(contents) - {RANKS_DIR, *MERGED_NAMES}:  # beside the shards, only what rank 0's merge moves in
            raise CorpusError(f"{out} holds an interrupted build beside other files; choose a new folder")
        return None
    if contents:
        if resume and (out / CORPUS_FILE).is_file():
            record = finished_corpus(out, recipe_to_dict(recipe), None)
            if record is not None:
                return record
            raise CorpusFolderError(f"{out} holds a finished corpus of another recipe or shard; choose a new folder")
        hint = "pass --resume to finish a build" if resume is False and (out / ".build").is_dir() else \
            "choose a new folder"
        raise CorpusFolderError(f"{out} is not empty ({hint}); a build never mixes corpora")
    return None
