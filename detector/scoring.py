"""Scoring user inputs: files and folders in, one record per input out.

A record is ``{"path", "kind", "score", "label", "error"}``: ``score`` is the probability that the input is
synthetic, ``label`` is ``fake``/``real`` at the threshold, ``error`` is null or a one-line reason the input
could not be read. A bad input never stops the others: it just gets its ``error``.
Images are decoded in background threads while the detector works on the previous batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from generators.imageio import IMAGE_SUFFIXES, ImageReadError, read_image

from .base import Detector


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Files as given; folders walked recursively (sorted, symlinked folders not followed) for images."""
    out: list[str] = []
    for p in paths:
        p = str(p)
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs.sort()
                found += [os.path.join(root, f) for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
            out += sorted(found)
        else:
            out.append(p)
    return out


def _read(path: str) -> tuple[np.ndarray | None, str | None]:
    try:
        return read_image(path), None
    except ImageReadError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 — an input must never crash the run
        return None, f"unreadable ({type(exc).__name__}: {exc})".splitlines()[0]


def _prefetched(paths: list[str], workers: int, ahead: int) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """Decode ``paths`` in a thread pool, at most ``ahead`` in flight, yielding in input order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        queue: list[tuple[str, Future]] = []
        it = iter(paths)
        for path in it:
            queue.append((path, pool.submit(_read, path)))
            if len(queue) >= ahead:
                break
        while queue:
            path, fut = queue.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(_read, nxt)))
            image, error = fut.result()
            yield path, image, error


def iter_scores(
    paths: Iterable[str | os.PathLike],
    detector: Detector,
    *,
    threshold: float | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Yield one record per input, in input order, scoring images ``batch_size`` at a time."""
    threshold = detector.threshold if threshold is None else threshold
    batch: list[tuple[str, np.ndarray | None, str | None]] = []

    def flush() -> Iterator[dict]:
        good = [image for _, image, _ in batch if image is not None]
        scores = iter(detector.predict_proba(good, device=device) if good else [])
        for path, image, error in batch:
            if image is None:
                yield {"path": path, "kind": "image", "score": None, "label": None, "error": error}
            else:
                score = float(next(scores))
                yield {"path": path, "kind": "image", "score": score,
                       "label": "fake" if score >= threshold else "real", "error": None}
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for item in _prefetched(expand_inputs(paths), workers=workers, ahead=2 * batch_size):
        batch.append(item)
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()


def score_paths(paths: Iterable[str | os.PathLike], detector: Detector, **kwargs) -> list[dict]:
    """All records of :func:`iter_scores` as a list."""
    return list(iter_scores(paths, detector, **kwargs))
