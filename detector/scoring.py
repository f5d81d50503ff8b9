"""Scoring user inputs: image files, folders, globs and videos in, one record per input out.

Every record has ``path``, ``kind`` (``image``, ``video``, or ``folder`` for a folder that could not be walked),
``score`` (the probability that the input is synthetic, or null), ``label`` (``fake``/``real`` at the threshold,
or null) and ``error`` (null, or a one-line reason). An error does not always mean no score: a video damaged
part-way is scored on the frames that decoded, and ``error`` says what was lost. A bad input never stops the others.

Videos add ``aggregate`` (how frame scores became the video's score), ``threshold``, ``fps``, ``frame_count``,
``frames_decoded`` and ``frames``, the timeline: one entry per sampled frame with ``index``, ``time`` (seconds),
``score``, ``label``, ``face`` (the crop box ``[x, y, w, h]`` with ``faces=True``, else null) and ``status``
(``scored``, ``no face`` or ``not decoded``). Frames without a score are left out of the aggregate. With
``faces=True`` images add ``face`` as well, and an image or video without any face gets an error.

Throughput: decoding (and face finding) runs in background threads, several inputs ahead, while the detector
scores the previous batch; crops of images and video frames share the same batches.
"""

from __future__ import annotations

import errno
import glob
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fakescope.core.imageio import IMAGE_SUFFIXES, ImageReadError, os_reason, read_image

from .base import Detector
from .video import (
    AGGREGATES,
    VIDEO_SUFFIXES,
    FaceFinder,
    FrameSampling,
    VideoFrames,
    VideoReadError,
    crop,
    looks_like_video,
)
from .video import aggregate as aggregate_scores

# --- inputs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """One thing to score: a path, what it is taken to be, and an error already known (e.g. a folder loop)."""

    path: str
    kind: str  # image | video | folder
    error: str | None = None


def kind_of(path: str) -> str:
    """``video`` or ``image``, by suffix, else by the first bytes (a video container's signature)."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return "image"  # the reader will say why it cannot be read
    return "video" if looks_like_video(head) else "image"


def collect_inputs(paths: Iterable[str | os.PathLike | Input]) -> list[Input]:
    """Files as given; folders walked recursively; shell patterns (``*``, ``?``, ``[...]``, ``**``) expanded.

    Folder walks keep images and videos (by suffix), sorted, skip hidden names, follow symbolic links to
    folders, and report a link that leads back to a folder being walked (a loop) or a folder that cannot be
    listed as a ``folder`` input with an error. A path that does not exist stays, to be reported as missing.
    """
    out: list[Input] = []
    for p in paths:
        if isinstance(p, Input):
            out.append(p)
            continue
        p = os.fspath(p)
        if os.path.isdir(p):
            _walk(p, {}, out)
        elif os.path.lexists(p) or not glob.has_magic(p):
            out.append(Input(p, kind_of(p)))
        else:
            matches = _glob(p)
            if not matches:
                out.append(Input(p, "image", "no file matches this pattern"))
            for m in matches:
                if os.path.isdir(m):
                    _walk(m, {}, out)
                else:
                    out.append(Input(m, kind_of(m)))
    return out


def _glob(pattern: str) -> list[str]:
    """Sorted matches of a pattern, each file once: ``**`` follows folder links, so a link loop would repeat
    every file under ever longer paths; the shortest path to each real file is kept."""
    matches = sorted(glob.glob(pattern, recursive=True), key=lambda m: (m.count(os.sep), m))
    seen: set[str] = set()
    keep = []
    for m in matches:
        real = os.path.realpath(m)
        if real not in seen:
            seen.add(real)
            keep.append(m)
    return sorted(keep)


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The paths :func:`collect_inputs` finds."""
    return [i.path for i in collect_inputs(paths)]


def _walk(folder: str, ancestors: dict[tuple[int, int], str], out: list[Input]) -> None:
    try:
        st = os.stat(folder)
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        out.append(Input(folder, "folder", os_reason(exc)))
        return
    ancestors = {**ancestors, (st.st_dev, st.st_ino): folder}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows symbolic links
        except OSError:
            is_dir = False
        if is_dir:
            try:
                sub = os.stat(entry.path)
            except OSError as exc:
                out.append(Input(entry.path, "folder", os_reason(exc)))
                continue
            back = ancestors.get((sub.st_dev, sub.st_ino))
            if back is not None:
                out.append(Input(entry.path, "folder", f"symbolic link loop: leads back to {back}"))
            else:
                _walk(entry.path, ancestors, out)
            continue
        suffix = Path(entry.name).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            out.append(Input(entry.path, "image"))
        elif suffix in VIDEO_SUFFIXES:
            out.append(Input(entry.path, "video"))
        elif entry.is_symlink() and _loops(entry.path):
            out.append(Input(entry.path, "image", "symbolic link loop"))


def _loops(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


# --- decoding (background) ---------------------------------------------------------------------------------


@dataclass
class _Item:
    """An input in flight: its record, the arrays still to be scored, and whether decoding has finished."""

    input: Input
    record: dict
    slots: list[dict] = field(default_factory=list)  # where each score goes: the record, or a frame entry
    outstanding: int = 0
    decoded: bool = False
    loss: str | None = None


class _Budget:
    """Bytes of decoded pixels handed to the scorer and not yet scored: the decoder waits while it is spent
    (one input is always let through, however large), so memory stays bounded whatever the image sizes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.stop = threading.Event()
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            while self.used > 0 and self.used + n > self.limit and not self.stop.is_set():
                self._cond.wait(0.1)
            self.used += n

    def give(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@dataclass(frozen=True)
class _Options:
    frames: FrameSampling
    finder: FaceFinder | None
    workers: int
    ahead: int  # inputs (or video frames, when finding faces) decoded ahead of the one being handed over
    budget: _Budget


def _load_image(path: str, finder: FaceFinder | None) -> tuple[np.ndarray | None, list | None, str | None]:
    """(pixels to score, face box, error) for one image file; never raises."""
    try:
        image = read_image(path)
    except ImageReadError as exc:
        return None, None, str(exc)
    except Exception as exc:  # noqa: BLE001 — an input must never crash the run
        return None, None, f"unreadable ({type(exc).__name__}: {exc})".splitlines()[0]
    if finder is None:
        return image, None, None
    try:
        box = finder.largest(image)
    except Exception as exc:  # noqa: BLE001
        return None, None, f"face search failed ({type(exc).__name__}: {exc})".splitlines()[0]
    if box is None:
        return None, None, "no face found"
    return crop(image, box), list(box), None


def _frame_face(image: np.ndarray, finder: FaceFinder) -> tuple[np.ndarray | None, list | None, str]:
    """(face crop, box, frame status) for one video frame; never raises."""
    try:
        box = finder.largest(image)
    except Exception:  # noqa: BLE001
        return None, None, "face search failed"
    return (None, None, "no face") if box is None else (crop(image, box), list(box), "scored")


def _decode(inputs: list[Input], opts: _Options) -> Iterator[tuple]:
    """Messages in input order: ("start", item), ("crop", item, slot, array), ("done", item)."""
    with ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="fakescope-decode") as pool:
        window: deque[tuple[Input, Future | None]] = deque()
        it = iter(inputs)

        def refill() -> None:
            while len(window) < opts.ahead:
                nxt = next(it, None)
                if nxt is None:
                    return
                fut = pool.submit(_load_image, nxt.path, opts.finder) if nxt.kind == "image" and not nxt.error else None
                window.append((nxt, fut))

        refill()
        while window:
            inp, fut = window.popleft()
            refill()
            if inp.error is not None:
                item = _Item(inp, {"path": inp.path, "kind": inp.kind, "score": None, "label": None,
                                   "error": inp.error})
                yield "start", item
            elif inp.kind == "video":
                yield from _decode_video(inp, opts, pool)
                continue
            else:
                array, box, error = fut.result()
                item = _Item(inp, {"path": inp.path, "kind": "image", "score": None, "label": None, "error": error})
                if opts.finder is not None:
                    item.record["face"] = box
                yield "start", item
                if array is not None:
                    item.slots.append(item.record)
                    opts.budget.take(array.nbytes)
                    yield "crop", item, 0, array
            yield "done", item


def _decode_video(inp: Input, opts: _Options, pool: ThreadPoolExecutor) -> Iterator[tuple]:
    item = _Item(inp, {"path": inp.path, "kind": "video", "score": None, "label": None, "error": None})
    try:
        video = VideoFrames(inp.path, opts.frames)
    except VideoReadError as exc:
        item.record["error"] = str(exc)
        yield "start", item
        yield "done", item
        return
    item.record.update(fps=video.fps, frame_count=video.stated_count, frames_decoded=None, frames=[])
    yield "start", item
    timeline: list[dict] = item.record["frames"]
    pending: deque[tuple[dict, Future | np.ndarray]] = deque()

    def emit(entry: dict, result) -> Iterator[tuple]:
        if opts.finder is None:
            array = result
        else:
            array, entry["face"], entry["status"] = result.result()
            if array is None:
                return
        item.slots.append(entry)
        opts.budget.take(array.nbytes)
        yield "crop", item, len(item.slots) - 1, array

    try:
        for frame in video:
            entry = {"index": frame.index, "time": frame.time, "score": None, "label": None, "face": None,
                     "status": "scored"}
            timeline.append(entry)
            if opts.finder is not None:
                pending.append((entry, pool.submit(_frame_face, frame.image, opts.finder)))
            else:
                pending.append((entry, frame.image))
            while len(pending) > opts.ahead or (pending and opts.finder is None):
                yield from emit(*pending.popleft())
    except VideoReadError as exc:
        item.record["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 — a damaged video must never crash the run
        item.record["error"] = f"video decoding failed ({type(exc).__name__}: {exc})".splitlines()[0]
    while pending:
        yield from emit(*pending.popleft())
    item.record["frame_count"] = video.frame_count
    item.record["frames_decoded"] = video.decoded
    if video.loss is not None:
        for i in video.loss.missing:
            timeline.append({"index": i, "time": video.time_of(i), "score": None, "label": None, "face": None,
                             "status": "not decoded"})
        timeline.sort(key=lambda e: e["index"])
        item.loss = video.loss.message(len(video.wanted))
    yield "done", item


class _Background:
    """Run a generator in a daemon thread, handing its items over through a bounded queue.

    Iterating yields the items, and :attr:`IDLE` whenever none has arrived for :attr:`IDLE_S` seconds (so that
    the consumer can use the wait, e.g. to score a partial batch).
    """

    _END = object()
    IDLE = object()
    IDLE_S = 0.05

    def __init__(self, make: Callable[[], Iterator], maxsize: int, stop: threading.Event) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = stop
        self._idle_s = self.IDLE_S
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True, name="fakescope-producer")
        self._thread.start()

    def _put(self, msg) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, make: Callable[[], Iterator]) -> None:
        gen = None
        try:
            gen = make()
            for msg in gen:
                if not self._put(msg):
                    return
            self._put(self._END)
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer, which raises it
            self._put((self._END, exc))
        finally:
            if gen is not None:
                gen.close()

    def __iter__(self) -> Iterator:
        try:
            while True:
                try:
                    msg = self._queue.get(timeout=self._idle_s)
                except queue.Empty:
                    yield self.IDLE
                    continue
                if msg is self._END:
                    return
                if isinstance(msg, tuple) and msg and msg[0] is self._END:
                    raise msg[1]
                yield msg
        finally:
            self._stop.set()
            self._thread.join(timeout=30)


# --- scoring -------------------------------------------------------------------------------------------------


def iter_scores(
    paths: Iterable[str | os.PathLike | Input],
    detector: Detector,
    *,
    threshold: float | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    workers: int = 2,
    frames: int = 32,
    every: int | None = None,
    faces: bool = False,
    aggregate: str = "mean",
    top_k: int = 5,
    face_finder: FaceFinder | None = None,
    max_batch_bytes: int = 256 << 20,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Yield one record per input, in input order (see the module docstring for the record).

    ``frames``/``every``: video frame sampling (see :class:`fakescope.detector.video.FrameSampling`); ``faces``:
    score the largest face of each image and frame instead of the whole picture; ``aggregate``: ``mean``, ``max``,
    ``topk`` (mean of the ``top_k`` highest frame scores) or ``vote``; ``progress(n)`` is called as records finish.
    A batch is scored when it holds ``batch_size`` crops or half of ``max_batch_bytes`` of pixels, or when decoding
    falls behind; decoded pixels waiting to be scored never exceed ``max_batch_bytes`` (but for one large input).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    threshold = float(detector.threshold if threshold is None else threshold)
    finder = (face_finder or FaceFinder()) if faces else None
    workers = max(1, workers)
    budget = _Budget(max_batch_bytes)
    opts = _Options(FrameSampling(frames=frames, every=every), finder, workers, ahead=2 * workers + 2, budget=budget)
    inputs = collect_inputs(paths)

    def finish(item: _Item) -> dict:
        rec = item.record
        if rec["kind"] != "video" or "frames" not in rec:
            return rec
        scores = [f["score"] for f in rec["frames"] if f["score"] is not None]
        errors = [rec["error"]] if rec["error"] else []
        if scores:
            rec["score"], rec["label"] = aggregate_scores(scores, aggregate, threshold, top_k)
        elif not errors and faces:
            errors.append(f"no face found in any of the {len(rec['frames'])} sampled frames")
        elif not errors:
            errors.append("no frame could be scored")
        if item.loss:
            errors.append(item.loss)
        rec["error"] = "; ".join(errors) or None
        head = {k: rec.pop(k) for k in ("path", "kind", "score", "label", "error")}
        extra = {"aggregate": aggregate, **({"top_k": top_k} if aggregate == "topk" else {}),
                 "threshold": threshold}
        return {**head, **extra, **rec}

    open_items: deque[_Item] = deque()
    batch: list[tuple[_Item, int, np.ndarray]] = []

    def run_batch() -> None:
        probs = detector.predict_proba([a for _, _, a in batch], device=device)
        for (item, slot, _), p in zip(batch, probs, strict=True):
            entry = item.slots[slot]
            entry["score"] = float(p)
            entry["label"] = "fake" if p >= threshold else "real"
            item.outstanding -= 1
        budget.give(sum(a.nbytes for _, _, a in batch))
        batch.clear()

    def ready() -> Iterator[dict]:
        while open_items and open_items[0].decoded and open_items[0].outstanding == 0:
            rec = finish(open_items.popleft())
            if progress is not None:
                progress(1)
            yield rec

    background = _Background(lambda: _decode(inputs, opts), maxsize=batch_size + 8, stop=budget.stop)
    batch_bytes = 0
    for msg in background:
        if msg is _Background.IDLE:  # decoding is behind: score what is there rather than wait
            if batch:
                run_batch()
                batch_bytes = 0
                yield from ready()
            continue
        kind, item = msg[0], msg[1]
        if kind == "start":
            open_items.append(item)
        elif kind == "crop":
            item.outstanding += 1
            batch.append((item, msg[2], msg[3]))
            batch_bytes += msg[3].nbytes
            if len(batch) >= batch_size or 2 * batch_bytes >= max_batch_bytes:
                run_batch()
                batch_bytes = 0
                yield from ready()
        else:  # done
            item.decoded = True
            yield from ready()
    if batch:
        run_batch()
    yield from ready()


def score_paths(paths: Iterable[str | os.PathLike | Input], detector: Detector, **kwargs) -> list[dict]:
    """All records of :func:`iter_scores` as a list."""
    return list(iter_scores(paths, detector, **kwargs))


def score_video(path: str | os.PathLike, detector: Detector, **kwargs) -> dict:
    """The record of one video (any file: it is read as a video whatever its name)."""
    return next(iter_scores([Input(os.fspath(path), "video")], detector, **kwargs))


def score_image(path: str | os.PathLike, detector: Detector, **kwargs) -> dict:
    """The record of one image file."""
    return next(iter_scores([Input(os.fspath(path), "image")], detector, **kwargs))
