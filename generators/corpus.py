"""Labeled corpora: real images beside generated fakes, in a layout other tools already read.

::

    CORPUS/corpus.json                   recipe, versions, device, determinism flags, counts
    CORPUS/manifest.jsonl                one row per image (path, sha256, label, split, origin, seeds, size)
    CORPUS/{train,val,test}/{0_real,1_fake}/*.png

Real and fake images go through the same conversion and the same PNG encoder, so a detector cannot win by
telling one file format from another. Fake ``i`` of split ``s`` is generated from ``image_seed(seed, i, s)``.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import fakescope_version, write_json_atomic
from .gan import load_gan
from .imageio import encode_png, resize, set_channels, sha256_bytes, sha256_file, to_uint8, write_bytes_atomic
from .sampling import generate_range, image_seed
from .sources import SPLITS, create_source

LABEL_DIRS = {0: "0_real", 1: "1_fake"}
CORPUS_FILE = "corpus.json"
MANIFEST_FILE = "manifest.jsonl"


class CorpusError(ValueError):
    """A corpus that cannot be built or read as asked."""


@dataclass(frozen=True)
class CorpusSpec:
    """What to build: one real source against one generator checkpoint, ``counts[split]`` images per class."""

    real: str  # a real source spec: digits, faces, photos, folder:PATH
    generator: str  # a bundled GAN checkpoint name or a checkpoint folder
    counts: dict[str, int] = field(default_factory=lambda: {"train": 500, "val": 100, "test": 100})
    size: int | None = None  # image side; None: the generator's
    channels: int | None = None  # 1 or 3; None: the generator's
    seed: int = 0


def build_corpus(
    spec: CorpusSpec,
    out: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Build ``spec`` into the empty folder ``out``; returns the ``corpus.json`` record."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CorpusError(f"{out} is not empty; choose a new folder")
    unknown = set(spec.counts) - set(SPLITS)
    if unknown:
        raise CorpusError(f"unknown split(s) {', '.join(sorted(unknown))}; expected {', '.join(SPLITS)}")
    gan, gan_meta = load_gan(spec.generator, device=device)
    channels, height, _ = gan.image_shape
    size = spec.size or height
    channels = spec.channels or channels
    source = create_source(spec.real)
    checkpoint = {"name": spec.generator, "sha256": gan_meta["sha256"]}

    rows: list[dict] = []
    pending: list[Future] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:

        def submit(image: np.ndarray, row: dict) -> None:
            pending.append(pool.submit(_write_image, out, image, row))
            while len(pending) > 4 * batch_size:  # bounded queue: memory stays flat
                rows.append(pending.pop(0).result())
                if progress is not None:
                    progress(1)

        for split in SPLITS:
            n = spec.counts.get(split, 0)
            if n <= 0:
                continue
            real = source.draw(n, size=size, channels=channels, split=split, seed=spec.seed)
            for i, (image, meta) in enumerate(zip(real.images, real.meta, strict=True)):
                submit(to_uint8(image), {
                    "label": 0, "split": split, "index": i, "source": meta["source"],
                    "source_image": meta["item"], "crop": meta.get("crop"),
                })
            seed_of = _fake_seed_fn(spec.seed, split)
            for first, images in generate_range(gan, seed_of, 0, n, batch_size=batch_size):
                for j, image in enumerate(images):
                    i = first + j
                    submit(_convert(to_uint8(image), size, channels), {
                        "label": 1, "split": split, "index": i, "generator": gan.name,
                        "checkpoint": checkpoint["name"], "checkpoint_sha256": checkpoint["sha256"],
                        "seed": seed_of(i),
                    })
        for fut in pending:
            rows.append(fut.result())
            if progress is not None:
                progress(1)

    rows.sort(key=lambda r: (SPLITS.index(r["split"]), r["label"], r["index"]))
    write_bytes_atomic(out / MANIFEST_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
    record = {
        "format_version": 1,
        "spec": asdict(spec),
        "image": {"size": size, "channels": channels, "format": "png"},
        "generator": {"family": gan.name, **checkpoint},
        "device": str(torch.device(device)),
        "deterministic": torch.device(device).type == "cpu",
        "versions": _versions(),
        "counts": count_rows(rows),
    }
    write_json_atomic(out / CORPUS_FILE, record)
    return record


def _fake_seed_fn(seed: int, split: str) -> Callable[[int], int]:
    return lambda i: image_seed(seed, i, "fake", split)


def _convert(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    return resize(set_channels(image, channels), size)


def _write_image(out: Path, image: np.ndarray, row: dict) -> dict:
    """Encode and write one image atomically; returns its completed manifest row."""
    prefix = "r" if row["label"] == 0 else "f"
    rel = f"{row['split']}/{LABEL_DIRS[row['label']]}/{prefix}{row['index']:06d}.png"
    data = encode_png(image)
    write_bytes_atomic(out / rel, data)
    h, w = image.shape[:2]
    kept = {k: v for k, v in row.items() if v is not None}
    return {"path": rel, "sha256": sha256_bytes(data), "size": [h, w], **kept}


def count_rows(rows: list[dict]) -> dict:
    counts: dict = {}
    for r in rows:
        split = counts.setdefault(r["split"], {"real": 0, "fake": 0})
        split["real" if r["label"] == 0 else "fake"] += 1
    return counts


def _versions() -> dict:
    import cv2

    return {
        "fakescope": fakescope_version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def read_manifest(corpus: str | os.PathLike) -> list[dict]:
    path = Path(corpus) / MANIFEST_FILE
    if not path.is_file():
        raise CorpusError(f"{corpus}: not a corpus (no {MANIFEST_FILE})")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise CorpusError(f"{path}:{n}: not valid JSON") from None
    return rows


def verify_corpus(corpus: str | os.PathLike) -> dict:
    """Recheck every file against the manifest: ``{"ok", "checked", "missing", "changed", "extra"}``."""
    corpus = Path(corpus)
    rows = read_manifest(corpus)
    missing, changed = [], []
    listed = set()
    for r in rows:
        listed.add(r["path"])
        path = corpus / r["path"]
        if not path.is_file():
            missing.append(r["path"])
        elif sha256_file(path) != r["sha256"]:
            changed.append(r["path"])
    extra = sorted(
        str(p.relative_to(corpus)) for p in corpus.rglob("*")
        if p.is_file() and p.name not in (CORPUS_FILE, MANIFEST_FILE) and str(p.relative_to(corpus)) not in listed
    )
    return {
        "ok": not (missing or changed or extra),
        "checked": len(rows),
        "missing": missing,
        "changed": changed,
        "extra": extra,
    }
