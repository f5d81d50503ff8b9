"""The corpus format: a folder other tools already read, its manifest rows, and reading, checking and counting it.

::

    CORPUS/corpus.json                   recipe, checkpoints, versions, device, determinism flags, counts
    CORPUS/manifest.jsonl                one row per image (path, sha256, label, split, origin, seeds, size)
    CORPUS/{train,val,test}/{0_real,1_fake}/<origin>-<index>.png

Everything here reads or writes that format and knows nothing of how images are made: building a corpus is
:mod:`fakescope.generators.corpus`; a detector reads its training data through :func:`read_manifest`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .imageio import sha256_bytes, sha256_file, write_bytes_atomic
from .safety import (
    LOCK_NAME,
    OutputFolderError,
    SafetyError,
    UnsafeFileError,
    UnsafePathError,
    check_regular_file,
    first_line,
    loads_json,
    member_path,
    read_json_object,
)
from .walk import holdings

SPLITS = ("train", "val", "test")
LABEL_DIRS = {0: "0_real", 1: "1_fake"}
CORPUS_FILE = "corpus.json"
#: corpus.json larger than this is refused before it is read (it holds the recipe, versions and counts).
MAX_RECORD_BYTES = 16 << 20
MANIFEST_FILE = "manifest.jsonl"
BUILD_DIR = ".build"  # present while a build is in progress (or was interrupted)
FORMAT_VERSION = 2
#: A corpus file larger than this is refused before it is hashed or read (corpus images are small).
MAX_FILE_BYTES = 1 << 30


class CorpusError(ValueError):
    """A corpus that cannot be built, resumed, merged or read as asked."""


class CorpusFolderError(CorpusError, OutputFolderError):
    """An output folder a build or merge must not write into (not empty, not a folder): exit status 1, as for every
    output folder refused."""


class DamagedCorpusError(CorpusError, SafetyError):
    """A corpus whose manifest or record cannot be read or is malformed: data refused, not a usage error."""


class UnsafeCorpusError(CorpusError, SafetyError):
    """A corpus whose manifest names a path outside it, or a file that must not be read; or a build too large to
    start without confirmation."""


def image_path(origin: str, label: int, split: str, index: int, suffix: str) -> str:
    """The manifest ``path`` of image ``index`` of ``origin`` (a source or generator entry) in ``split``."""
    return f"{split}/{LABEL_DIRS[label]}/{origin}-{index:06d}{suffix}"


def manifest_lines(rows: Iterable[dict]) -> str:
    """Manifest rows as JSON lines (keys sorted: the bytes depend on the rows alone)."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def write_corpus(out: str | os.PathLike, rows: list[dict], record: dict) -> dict:
    """Finish a corpus: its manifest, then ``corpus.json`` (``record`` with ``manifest_sha256``, the sha256 of the
    manifest's bytes, so that ``verify`` sees any edit of a row). Returns the record as written."""
    data = manifest_lines(rows).encode()
    write_bytes_atomic(Path(out) / MANIFEST_FILE, data)
    record = {**record, "manifest_sha256": sha256_bytes(data)}
    write_bytes_atomic(Path(out) / CORPUS_FILE, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return record


def sort_rows(recipe: dict, rows: Iterable[dict]) -> list[dict]:
    """Manifest order: split, label, the recipe's entry order (``recipe`` as recorded in corpus.json), index."""
    names = [e["name"] for e in recipe["real"]] + [e["name"] for e in recipe["fake"]]
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows, key=lambda r: (SPLITS.index(r["split"]), r["label"], order.get(r.get("origin"), -1),
                                       r["index"], r["path"]))


def count_rows(rows: list[dict]) -> dict:
    """``{split: {"real": n, "fake": n}}`` for every split (zeros included)."""
    counts = {s: {"real": 0, "fake": 0} for s in SPLITS}
    for r in rows:
        split = counts.setdefault(r["split"], {"real": 0, "fake": 0})
        split["real" if r["label"] == 0 else "fake"] += 1
    return counts


def read_manifest(corpus: str | os.PathLike) -> list[dict]:
    """The manifest's rows. Every row is an object whose ``path`` stays inside the corpus (relative, no ``..``,
    not absolute, no symbolic link leading out, :func:`fakescope.core.safety.member_path`); a corpus with any
    other row is refused as a whole (:class:`UnsafeCorpusError`), so no reader goes outside it."""
    path = Path(corpus) / MANIFEST_FILE
    if not path.is_file():
        if not Path(corpus).is_dir():
            raise CorpusError(f"{corpus}: {'not a folder' if Path(corpus).exists() else 'no such folder'}")
        hint = " (an interrupted build: finish it with --resume)" if (Path(corpus) / BUILD_DIR).is_dir() else ""
        raise CorpusError(f"{corpus}: not a corpus (no {MANIFEST_FILE}){hint}")
    try:
        check_regular_file(path, MAX_FILE_BYTES)
        text = path.read_text()
    except UnsafeFileError as exc:
        raise UnsafeCorpusError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedCorpusError(f"{path}: unreadable ({exc})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = loads_json(line)
            except ValueError as exc:  # not JSON, or nested too deeply
                raise DamagedCorpusError(f"{path}:{n}: not valid JSON ({first_line(exc)})") from None
            if not isinstance(row, dict):
                raise DamagedCorpusError(f"{path}:{n}: not a JSON object")
            if not isinstance(row.get("split"), str) or type(row.get("label")) is not int \
                    or row["label"] not in (0, 1):
                raise DamagedCorpusError(f"{path}:{n}: a row needs a split and a label of 0 (real) or 1 (fake)")
            try:
                member_path(corpus, row.get("path"))
            except UnsafePathError as exc:
                raise UnsafeCorpusError(f"{path}:{n}: {exc}; refusing this corpus") from None
            rows.append(row)
    return rows


def read_record(corpus: str | os.PathLike) -> dict:
    """``corpus.json`` (an empty dict for corpora that have none)."""
    path = Path(corpus) / CORPUS_FILE
    if not path.is_file():
        return {}
    try:
        return read_json_object(path, MAX_RECORD_BYTES)
    except ValueError as exc:  # UnsafeFileError included: not a regular file, too large
        raise DamagedCorpusError(f"{path}: {exc}") from None


def verify_corpus(corpus: str | os.PathLike) -> dict:
    """Recheck every file against the manifest and the counts against ``corpus.json``.

    Returns ``{"ok", "checked", "missing", "changed", "extra", "duplicates", "refused", "counts", "mislabelled",
    "manifest", "notes", "incomplete"}``; ``refused`` lists ``"path: reason"`` for rows whose file must not be read
    (not a regular file, larger than :data:`MAX_FILE_BYTES`: never hashed); ``extra`` also lists symbolic links
    and other non-regular entries nobody listed; ``counts`` lists ``"split/real: manifest N, corpus.json M"``
    disagreements; ``mislabelled`` lists rows whose label or split disagrees with where their file is
    (``0_real``/``1_fake``, the split folder) or with their origin (a real source, a generator: corpus.json names
    which is which); ``manifest`` says when the manifest is not the one ``corpus.json``'s ``manifest_sha256``
    records (any edit of a row); ``notes`` what could not be checked (a corpus written before that hash). A
    manifest row leading outside the corpus raises :class:`UnsafeCorpusError` (see :func:`read_manifest`).
    """
    corpus = Path(corpus)
    rows = read_manifest(corpus)
    record = read_record(corpus)
    missing, changed, duplicates, refused = [], [], [], []
    listed: set[str] = set()
    for r in rows:
        if r["path"] in listed:
            duplicates.append(r["path"])
            continue
        listed.add(r["path"])
        path = corpus / r["path"]
        try:
            check_regular_file(path, MAX_FILE_BYTES)
        except UnsafeFileError as exc:
            if str(exc) in ("no such file", "broken symbolic link"):
                missing.append(r["path"])
            else:
                refused.append(f"{r['path']}: {exc}")
            continue
        if sha256_file(path) != r.get("sha256"):
            changed.append(r["path"])
    extra = sorted(rel for rel in holdings(corpus)  # links are listed, never followed
                   if rel not in listed and rel not in (CORPUS_FILE, MANIFEST_FILE, LOCK_NAME)
                   and rel != BUILD_DIR and not rel.startswith(f"{BUILD_DIR}/"))
    counts = []
    actual = count_rows(rows)
    wanted = record.get("counts")
    if wanted is not None and record.get("shard") is None and "expected" in record:
        wanted = record["expected"]
    for split in sorted(set(actual) | set(wanted or {})):
        for kind in ("real", "fake"):
            a, w = actual.get(split, {}).get(kind, 0), (wanted or {}).get(split, {}).get(kind, 0)
            if wanted is not None and a != w:
                counts.append(f"{split}/{kind}: manifest {a}, corpus.json {w}")
    incomplete = (corpus / BUILD_DIR).is_dir()
    mislabelled = [f"{r['path']}: {why}" for r in rows if (why := _misplaced(r, record)) is not None]
    manifest, notes = [], []
    recorded = record.get("manifest_sha256")
    if recorded is None:
        notes.append(f"{CORPUS_FILE} records no manifest_sha256 (a corpus written by an older fakescope): an edit of "
                     f"{MANIFEST_FILE} that keeps every file's hash and the counts cannot be seen; rows are checked "
                     "against their folders and origins only")
    elif sha256_file(corpus / MANIFEST_FILE) != recorded:
        manifest.append(f"{MANIFEST_FILE} is not the manifest {CORPUS_FILE} records (edited after the corpus was "
                        "written)")
    return {
        "ok": not (missing or changed or extra or duplicates or refused or counts or mislabelled or manifest
                   or incomplete),
        "checked": len(rows),
        "missing": missing,
        "changed": changed,
        "extra": extra,
        "duplicates": duplicates,
        "refused": refused,
        "counts": counts,
        "mislabelled": mislabelled,
        "manifest": manifest,
        "notes": notes,
        "incomplete": incomplete,
    }


_KIND = {0: "real", 1: "fake"}
#: Fields only a generated image's row carries.
_FAKE_FIELDS = ("generator", "checkpoint_sha256")


def _origins(record: dict) -> dict[str, set[int]]:
    """Each origin corpus.json names, with the labels its images may have (built: sources real, generators fake;
    imported: each folder's label)."""
    origins: dict[str, set[int]] = {}
    for label, key in ((0, "sources"), (1, "generators")):
        for entry in record.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                origins.setdefault(entry["name"], set()).add(label)
    for folder in record.get("folders") or []:
        if isinstance(folder, dict) and isinstance(folder.get("origin"), str) and folder.get("label") in (0, 1):
            origins.setdefault(folder["origin"], set()).add(folder["label"])
    return origins


def _misplaced(row: dict, record: dict) -> str | None:
    """Why a manifest row's label or split disagrees with where its file is or with its origin, else None."""
    label, kind = row["label"], _KIND[row["label"]]
    parts = row["path"].split("/")
    if len(parts) >= 3 and parts[1] in LABEL_DIRS.values() and parts[1] != LABEL_DIRS[label]:
        return f"label {label} ({kind}) but stored in {parts[1]}/"
    if len(parts) >= 3 and parts[0] in SPLITS and parts[0] != row["split"]:
        return f"split {row['split']!r} but stored in {parts[0]}/"
    origin = row.get("origin")
    allowed = _origins(record).get(origin) if isinstance(origin, str) else None
    if allowed is not None and label not in allowed:
        what = "real source" if label == 1 else "generator"
        return f"label {label} ({kind}) but its origin {origin!r} is a {what}"
    if label == 0 and any(k in row for k in _FAKE_FIELDS):
        return f"label 0 (real) but the row names a generator ({row.get('generator') or row.get('checkpoint_sha256')})"
    return None


def corpus_stats(corpus: str | os.PathLike) -> dict:
    """Counts per split, label and origin (source or generator), image sizes (``WIDTHxHEIGHT``, as everywhere),
    channels and storage format, and bytes on disk.

    A built corpus stores every image alike (``channels``, ``format`` from its record); an imported one keeps its
    files as found (``channels`` ``"as found"``, ``format`` ``"as found"`` or the ``--match-format`` it was
    re-encoded with) and ``formats`` counts the formats of each class from its manifest."""
    corpus = Path(corpus)
    rows = read_manifest(corpus)
    record = read_record(corpus)
    origins: dict[str, dict] = {}
    sizes: dict[str, int] = {}
    formats: dict[str, dict[str, int]] = {"real": {}, "fake": {}}
    total_bytes = 0
    for r in rows:
        name = r.get("origin") or r.get("checkpoint") or r.get("source") or "?"
        o = origins.setdefault(name, {
            "label": "real" if r["label"] == 0 else "fake",
            "kind": r.get("source") or r.get("generator") or "?",
            **{s: 0 for s in SPLITS}, "total": 0,
        })
        o[r["split"]] = o.get(r["split"], 0) + 1
        o["total"] += 1
        h, w = r.get("size", [0, 0])  # the manifest's [height, width]
        sizes[f"{w}x{h}"] = sizes.get(f"{w}x{h}", 0) + 1
        kind = "real" if r["label"] == 0 else "fake"
        fmt = str(r.get("format") or Path(str(r["path"])).suffix.lower().lstrip(".").replace("jpg", "jpeg") or "?")
        formats[kind][fmt] = formats[kind].get(fmt, 0) + 1
        file = corpus / r["path"]
        total_bytes += file.stat().st_size if file.is_file() else 0
    imported = record.get("kind") == "imported"
    image = record.get("image") if isinstance(record.get("image"), dict) else {}
    return {
        "corpus": str(corpus),
        "name": record.get("name"),
        "images": len(rows),
        "counts": count_rows(rows),
        "origins": origins,
        "sizes": sizes,
        "channels": "as found" if imported else image.get("channels"),
        "format": record.get("match_format", "as found") if imported else
        f"jpeg:{image['quality']}" if image.get("format") == "jpeg" and image.get("quality") else image.get("format"),
        "formats": formats,
        "bytes": total_bytes,
        "shard": record.get("shard"),
    }
