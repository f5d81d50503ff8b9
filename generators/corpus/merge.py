"""Joining the shards of one recipe into the corpus an unsharded build writes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fakescope.core.corpus import (
    BUILD_DIR,
    CORPUS_FILE,
    MANIFEST_FILE,
    MAX_FILE_BYTES,
    SPLITS,
    CorpusError,
    CorpusFolderError,
    count_rows,
    read_manifest,
    read_record,
    sort_rows,
    write_corpus,
)
from fakescope.core.imageio import sha256_file
from fakescope.core.lock import folder_lock
from fakescope.core.progress import Progress
from fakescope.core.safety import LOCK_NAME, UnsafeFileError, check_regular_file, member_path


def merge_corpora(shards: list[str | os.PathLike], out: str | os.PathLike, *, move: bool = False,
                  progress: Progress | None = None, scratch: str | None = None, resume: bool = False) -> dict:
    """Join the complete shards ``0/n .. n-1/n`` of one recipe into ``out`` (a new or empty folder).

    The result is what an unsharded build of the recipe writes: the same files, manifest and ``corpus.json``.
    Files are copied (``move``: renamed, leaving the shard folders empty of images) and rechecked on the way.
    ``scratch``: a folder inside ``out`` that may be there already (where the ranks of a torchrun build keep
    their shards). ``resume`` (with ``move``): finish a merge that was killed part-way — ``out`` may already hold
    split folders, and a file no longer in its shard counts as moved when it is in ``out`` with its hash.
    """
    out = Path(out)
    allowed = {scratch, LOCK_NAME} | ({*SPLITS, MANIFEST_FILE, CORPUS_FILE} if resume and move else set())
    if out.exists() and (not out.is_dir() or any(p.name not in allowed for p in out.iterdir())):
        raise CorpusFolderError(f"{out} is not empty; choose a new folder for the merged corpus")
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

    manifests = [(s, read_manifest(s)) for s, _ in records]  # every row checked before anything is written
    with folder_lock(out):  # one writer per corpus folder
        return _merge(manifests, records, out, move, progress, resume)


def _merge(manifests: list, records: list, out: Path, move: bool, progress: Progress | None, resume: bool) -> dict:
    first = records[0][1]
    rows: dict[str, dict] = {}
    for s, shard_rows in manifests:
        for r in shard_rows:
            if r["path"] in rows:
                raise CorpusError(f"{s}: {r['path']} is also in another shard")
            src, dst = s / r["path"], member_path(out, r["path"])  # both inside (read_manifest checked the row)
            if resume and move and not (src.exists() or src.is_symlink()) and dst.is_file() \
                    and not dst.is_symlink() and sha256_file(dst) == r["sha256"]:
                rows[r["path"]] = r  # moved before the merge was killed
                if progress is not None:
                    progress(1)
                continue
            try:
                check_regular_file(src, MAX_FILE_BYTES)
            except UnsafeFileError as exc:
                raise CorpusError(f"{s}: {r['path']}: {exc}; rebuild that shard") from None
            if sha256_file(src) != r["sha256"]:
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
    record = {k: v for k, v in first.items() if k not in ("shard", "manifest_sha256")}
    record["counts"] = count_rows(ordered)
    devices = {json.dumps([rec["device"], rec["determinism"], rec["versions"]], sort_keys=True)
               for _, rec in records}
    if len(devices) > 1:
        record["shards"] = [{"shard": rec["shard"], "device": rec["device"], "determinism": rec["determinism"],
                             "versions": rec["versions"]} for _, rec in records]
    return write_corpus(out, ordered, record)
