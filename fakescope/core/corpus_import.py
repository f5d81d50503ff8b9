"""Images nobody here generated, as a labeled corpus: folders of real photographs and of a generator's fakes.

``fakescope corpus import --real DIR --fake NAME=DIR ... --out CORPUS`` and ``fakescope bench --real/--fake``
both start here. Every folder is walked by the one input walker (:func:`fakescope.core.walk.walk`), every file is
checked (a regular file, not too large) and decoded before it is accepted, and hashed; an unreadable file is
listed with its reason and left out. Files with the same content (the same sha256) are kept once and reported.

The corpus is the standard layout (:mod:`fakescope.core.corpus`), one manifest row per image naming its
``origin`` (the generator's NAME, or the real folder's), ``source_file`` (the file it came from) and
``source_sha256``. Images are assigned to splits per origin by a permutation drawn from ``seed`` (all ``test``
by default), so the same folders and seed give the same corpus.

By default every file is stored as it was found (same bytes, same suffix), and corpus.json records the formats
of each class: when real photographs are JPEGs and fakes are PNGs, a detector can score well by telling the
formats apart, and the benchmark report says so. ``match_format`` (``png`` or ``jpeg:Q``) re-encodes both classes
the same way from their decoded pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import FORMAT_VERSION, SPLITS, count_rows, image_path, write_corpus
from .formats import HEAD_BYTES, content_format
from .imageio import (
    IMAGE_SUFFIXES,
    ImageReadError,
    check_file,
    decode_image,
    encode_jpeg,
    encode_png,
    os_reason,
    read_image_bytes,
    sha256_bytes,
    write_bytes_atomic,
)
from .lock import folder_lock
from .progress import Progress
from .safety import NothingFoundError, safe_name
from .seeding import numpy_rng
from .walk import walk


@dataclass(frozen=True)
class ImageFolder:
    """One ``--real``/``--fake`` folder: the origin its images get, their label (0 real, 1 fake), where it is."""

    origin: str
    label: int
    path: Path


@dataclass(frozen=True)
class FoundImage:
    """One accepted image: its folder, the file, its bytes' sha256, its size and its encoded format."""

    folder: ImageFolder
    path: str
    sha256: str
    size: tuple[int, int]  # [H, W]
    format: str  # png, jpeg, webp, ... (from the suffix)


def parse_folder(spec: str, label: int) -> ImageFolder:
    """``NAME=DIR`` or ``DIR`` (the origin is then the folder's name; for a fake folder NAME is required)."""
    name, sep, path = spec.partition("=")
    if not sep:
        if label == 1:
            raise ValueError(f"--fake {spec!r}: give the generator's name, NAME=DIR (e.g. stylegan3={spec})")
        name, path = Path(spec).resolve().name, spec
    if not path:
        raise ValueError(f"{'--fake' if label == 1 else '--real'} {spec!r}: no folder after '='")
    return ImageFolder(safe_name(name), label, Path(path))


def parse_splits(text: str | None) -> dict[str, float]:
    """``"train=0.8,val=0.1,test=0.1"`` → shares summing to 1 (None: everything in ``test``)."""
    if not text:
        return {"test": 1.0}
    shares: dict[str, float] = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        if name not in SPLITS:
            raise ValueError(f"--split {text!r}: {name!r} is not a split ({', '.join(SPLITS)})")
        try:
            shares[name] = float(value)
        except ValueError:
            raise ValueError(f"--split {text!r}: {value!r} is not a number") from None
        if not 0 <= shares[name] <= 1:
            raise ValueError(f"--split {text!r}: {name}={value} is not a share in [0, 1]")
    if abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"--split {text!r}: the shares add up to {sum(shares.values()):g}, not 1")
    return shares


def parse_match_format(text: str | None) -> tuple[str, int] | None:
    """``png`` → ``("png", 0)``; ``jpeg:90`` → ``("jpeg", 90)``; None: files kept as found."""
    if not text:
        return None
    kind, _, q = text.strip().lower().partition(":")
    if kind == "png" and not q:
        return ("png", 0)
    if kind in ("jpeg", "jpg") and q.isdigit() and 1 <= int(q) <= 100:
        return ("jpeg", int(q))
    raise ValueError(f"--match-format {text!r}: expected png or jpeg:QUALITY (1 .. 100)")


def _format_of(path: str, data: bytes) -> str:
    """The format a file is recorded as: its suffix's (``jpg`` is ``jpeg``), or for a file found by its first bytes
    (no image suffix: ``IMG_0001``) the format they announce."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return suffix.lstrip(".").replace("jpg", "jpeg")
    return content_format(data[:HEAD_BYTES]) or "unknown"


def _stored_suffix(path: str, fmt: str) -> str:
    """The suffix a file is stored under in the corpus: its own, or its format's when it had no image suffix."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".jpg" if fmt == "jpeg" else f".{fmt}"


def describe_format(match: tuple[str, int] | None) -> str:
    return "as found" if match is None else "png" if match[0] == "png" else f"jpeg:{match[1]}"


def gather(folders: Sequence[ImageFolder], *, on_error: Callable[[str], None], keep_pixels: bool = True,
           progress: Progress | None = None, exclude: Sequence[str | os.PathLike] = ()
           ) -> tuple[list[FoundImage], list[str], dict[str, np.ndarray]]:
    """Every readable image below the folders, in walk order, each content once.

    Returns the images, the duplicates (``"path: same content as path"``) and, with ``keep_pixels``, the decoded
    RGB ``uint8 [H, W, 3]`` pixels by path (else an empty dict: each file is decoded once to check it).
    ``on_error`` hears one line per file or folder that could not be read (they are left out). The folders of
    ``exclude`` (the command's output) are never walked.
    """
    found, duplicates, pixels = [], [], {}
    first: dict[str, str] = {}
    for folder in folders:
        if not folder.path.is_dir():
            on_error(f"{folder.path}: not a folder")
            continue
        for item in walk(folder.path, IMAGE_SUFFIXES, exclude=exclude, content=("image",)):
            if item.error:
                on_error(f"{item.path}: {item.error}")
                continue
            try:
                data, image = read_image_bytes(item.path)
            except ImageReadError as exc:
                on_error(f"{item.path}: {exc}")
                continue
            digest = sha256_bytes(data)
            if digest in first:
                duplicates.append(f"{item.path}: same content as {first[digest]}")
                continue
            first[digest] = item.path
            fmt = _format_of(item.path, data)
            found.append(FoundImage(folder, item.path, digest, image.shape[:2], fmt))
            if keep_pixels:
                pixels[item.path] = image
            if progress is not None:
                progress(1)
    return found, duplicates, pixels


def check_both_classes(folders: Sequence[ImageFolder], found: Sequence[FoundImage], duplicates: Sequence[str],
                       unreadable: Sequence[str]) -> None:
    """Refuse (:class:`~fakescope.core.safety.NothingFoundError`) an import that would hold no real or no fake
    image: one class is no corpus, and "22 real / 0 fake" is no success. The message names the folders and what
    was left out of them (duplicates of images already found, unreadable files)."""
    for label, kind in ((0, "real"), (1, "fake")):
        mine = [f for f in folders if f.label == label]
        if not mine or any(f.folder.label == label for f in found):
            continue

        def below(line: str, mine=mine) -> bool:
            return any(line.startswith(os.path.join(str(f.path), "")) for f in mine)

        left = [f"{n} {what}" for n, what in ((sum(map(below, duplicates)), "duplicates of images already found"),
                                               (sum(map(below, unreadable)), "unreadable")) if n]
        names = ", ".join(f"{f.origin}={f.path}" if label else str(f.path) for f in mine)
        raise NothingFoundError(f"no {kind} image to import from {names}"
                                + (f" ({' and '.join(left)}, left out)" if left else " (no image files found)")
                                + "; nothing was written")


def assign_splits(found: Sequence[FoundImage], shares: dict[str, float], seed: int) -> list[str]:
    """Per image, its split: each origin's images permuted by ``seed`` and cut by the shares (in SPLITS order)."""
    splits = [""] * len(found)
    by_origin: dict[tuple[int, str], list[int]] = {}
    for i, f in enumerate(found):
        by_origin.setdefault((f.folder.label, f.folder.origin), []).append(i)
    for (label, origin), idx in by_origin.items():
        order = numpy_rng(seed, "import-split", label, origin).permutation(len(idx))
        names = [s for s in SPLITS if shares.get(s, 0) > 0]
        bounds = np.cumsum([shares[s] for s in names]) * len(idx)
        bounds = np.round(bounds).astype(int)
        start = 0
        for name, stop in zip(names, bounds, strict=True):
            for k in order[start:stop]:
                splits[idx[int(k)]] = name
            start = stop
    return splits


def import_corpus(folders: Sequence[ImageFolder], out: str | os.PathLike, *, shares: dict[str, float] | None = None,
                  seed: int = 0, match_format: tuple[str, int] | None = None,
                  on_error: Callable[[str], None], progress: Progress | None = None) -> dict:
    """Write the images below ``folders`` as a corpus in ``out`` (new or empty; held locked while it is written,
    :func:`fakescope.core.lock.folder_lock`); returns corpus.json's record, which adds ``duplicates`` and
    ``unreadable`` (what was left out, and why)."""
    with folder_lock(out):
        return _import(folders, Path(out), shares, seed, match_format, on_error, progress)


def _import(folders: Sequence[ImageFolder], out: Path, shares: dict[str, float] | None, seed: int,
            match_format: tuple[str, int] | None, on_error: Callable[[str], None], progress: Progress | None) -> dict:
    unreadable: list[str] = []

    def problem(message: str) -> None:
        unreadable.append(message)
        on_error(message)

    found, duplicates, _ = gather(folders, on_error=problem, keep_pixels=False, progress=progress,
                                  exclude=[out])
    check_both_classes(folders, found, duplicates, unreadable)  # before anything is written
    splits = assign_splits(found, shares or {"test": 1.0}, seed)
    rows, formats = [], {"real": {}, "fake": {}}
    index: dict[tuple[str, int, str], int] = {}
    out.mkdir(parents=True, exist_ok=True)
    for f, split in zip(found, splits, strict=True):
        origin, label = f.folder.origin, f.folder.label
        try:  # read again (pixels are not kept in memory): checked as on the first pass
            check_file(f.path)
            data = Path(f.path).read_bytes()
        except ImageReadError as exc:
            problem(f"{f.path}: {exc}")
            continue
        except OSError as exc:
            problem(f"{f.path}: {os_reason(exc)}")
            continue
        if sha256_bytes(data) != f.sha256:
            problem(f"{f.path}: changed while it was being imported")
            continue
        if match_format is None:  # a file found by its content (IMG_0001) is stored with its format's suffix
            fmt, suffix = f.format, _stored_suffix(f.path, f.format)
        elif match_format[0] == "png":
            data, fmt, suffix = encode_png(decode_image(data)), "png", ".png"
        else:
            data, fmt, suffix = encode_jpeg(decode_image(data), match_format[1]), "jpeg", ".jpg"
        n = index.get((origin, label, split), 0)
        index[(origin, label, split)] = n + 1
        rel = image_path(origin, label, split, n, suffix)
        write_bytes_atomic(out / rel, data)
        kind = "real" if label == 0 else "fake"
        formats[kind][fmt] = formats[kind].get(fmt, 0) + 1
        rows.append({"path": rel, "sha256": sha256_bytes(data), "label": label, "split": split, "origin": origin,
                     "source": "folder", "source_file": f.path, "source_sha256": f.sha256, "index": n,
                     "size": list(f.size), "format": fmt})
    rows.sort(key=lambda r: (SPLITS.index(r["split"]), r["label"], r["origin"], r["index"]))
    record = write_corpus(out, rows, {
        "format_version": FORMAT_VERSION,
        "name": out.name,
        "kind": "imported",
        "folders": [{"origin": f.origin, "label": f.label, "path": str(f.path)} for f in folders],
        "seed": seed,
        "shares": shares or {"test": 1.0},
        "match_format": describe_format(match_format),
        "formats": formats,
        "formats_differ": sorted(formats["real"]) != sorted(formats["fake"]) and bool(formats["real"])
                          and bool(formats["fake"]),
        "counts": count_rows(rows),
    })
    return {**record, "duplicates": duplicates, "unreadable": unreadable}

