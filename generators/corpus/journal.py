"""The resume journal of a build in progress: ``.build/state.json`` (what is being built) and
``.build/journal.jsonl`` (one manifest row per finished file).

A resumed build must match the state exactly; it rechecks the journal's files against their hashes, deletes
partial files (``.*.tmp``) and writes only what is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fakescope.core.checkpoint import write_json_atomic
from fakescope.core.corpus import (
    BUILD_DIR,
    CORPUS_FILE,
    LABEL_DIRS,
    MAX_FILE_BYTES,
    SPLITS,
    CorpusError,
    CorpusFolderError,
    DamagedCorpusError,
    UnsafeCorpusError,
    manifest_lines,
    read_record,
    verify_corpus,
)
from fakescope.core.imageio import sha256_file, write_bytes_atomic
from fakescope.core.safety import LOCK_NAME, SafetyError, check_regular_file, member_path

STATE_FILE = "state.json"
JOURNAL_FILE = "journal.jsonl"


def prepare_folder(out: Path, identity: dict, resume: bool) -> dict[str, dict] | None:
    """Start or resume a build in ``out``: the rows already written, or None when the corpus is complete."""
    build = out / BUILD_DIR
    state = build / STATE_FILE
    contents = [p for p in out.iterdir() if (p.name != BUILD_DIR or state.exists()) and p.name != LOCK_NAME] \
        if out.is_dir() else []
    if out.exists() and not out.is_dir():
        raise CorpusFolderError(f"{out} exists and is not a folder")
    if contents and not resume:
        hint = "an interrupted build: pass --resume to finish it" if state.exists() else "choose a new folder"
        raise CorpusFolderError(f"{out} is not empty ({hint}); a build never mixes corpora")
    if contents:
        if state.exists():
            previous = json.loads(state.read_text())
            if previous != identity:
                words = {"recipe": "recipe", "checkpoints": "checkpoint", "image": "image format", "shard": "shard",
                         "determinism": "device (or CUDA batch size)",
                         "splits": "split of a folder: source (fakescope has changed how it splits folders)"}
                what = [words[k] for k in {**previous, **identity} if previous.get(k) != identity.get(k)]
                raise CorpusError(f"{out} holds an interrupted build with another {', '.join(what)}; "
                                  "resume it with the same recipe, shard and device, or choose a new folder")
            check_own_folders(out)
            remove_partial_files(out)
            return verified_journal(out)
        if (out / CORPUS_FILE).is_file():
            if finished_corpus(out, identity["recipe"], identity["shard"]) is not None:
                return None
            raise CorpusFolderError(f"{out} holds a finished corpus of another recipe or shard; choose a new folder")
        raise CorpusFolderError(f"{out} is not empty and holds no interrupted build to resume; choose a new folder")
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    write_json_atomic(state, identity)
    (build / JOURNAL_FILE).touch()
    return {}


def finished_corpus(out: Path, recipe: dict, shard) -> dict | None:
    """``corpus.json``'s record when ``out`` holds a finished corpus of ``recipe`` and ``shard``; None when it is of
    another; :class:`CorpusError` when it is this one but damaged (a file missing, changed or refused), which a
    resume must not report as done."""
    record = read_record(out)
    if record.get("recipe") != recipe or record.get("shard") != shard:
        return None
    report = verify_corpus(out)
    if not report["ok"]:
        damage = {k: len(report[k]) for k in ("missing", "changed", "extra", "duplicates", "refused") if report[k]}
        said = ", ".join(f"{n} {k}" for k, n in damage.items()) or "its counts disagree with its manifest"
        raise DamagedCorpusError(f"{out} holds this corpus, finished but damaged ({said}: `fakescope corpus verify` "
                                 "lists them); build it again into a new folder")
    return record


def check_own_folders(out: Path, folders: list[Path] | None = None) -> None:
    """Refuse to resume into a corpus whose image or build folders (or ``folders``) are symbolic links or not
    folders: the files a build writes and the partial files it deletes must all lie inside ``out``."""
    if folders is None:
        folders = [out / BUILD_DIR, *(out / s for s in SPLITS),
                   *(out / s / d for s in SPLITS for d in LABEL_DIRS.values())]
    for folder in folders:
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UnsafeCorpusError(f"{folder}: a symbolic link or not a folder inside the corpus; a build writes "
                                    "only inside its folder (choose a new folder)")


def remove_partial_files(out: Path) -> None:
    """Delete the temporary files of atomic writes that a kill interrupted."""
    for split in SPLITS:
        for label_dir in LABEL_DIRS.values():
            folder = out / split / label_dir
            if folder.is_dir():
                for p in folder.glob(".*.tmp"):
                    p.unlink()


def verified_journal(out: Path) -> dict[str, dict]:
    """Rows of the journal whose files exist with the recorded hash; the journal is rewritten to just those."""
    path = out / BUILD_DIR / JOURNAL_FILE
    rows: dict[str, dict] = {}
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the line being written when the build was killed
            continue
        try:
            file = member_path(out, row["path"])
            check_regular_file(file, MAX_FILE_BYTES)
        except (SafetyError, KeyError, TypeError):
            continue
        if sha256_file(file) == row.get("sha256"):
            rows[row["path"]] = row
        else:
            rows.pop(row["path"], None)
    write_bytes_atomic(path, manifest_lines(rows.values()).encode())
    return rows


def open_journal(out: Path):
    """The journal, opened to append rows (:func:`fakescope.core.corpus.manifest_lines`)."""
    return open(out / BUILD_DIR / JOURNAL_FILE, "a")
