"""Decoding inputs in background threads, several ahead of the detector, with bounded memory.

:func:`decode` turns inputs into messages, in input order: :class:`Started` (a record is open),
:class:`Crop` (an array to score and where its score goes: the record, or one of its video frames) and
:class:`Done` (nothing more will come for that record). Images are read (and their face found) in a thread
pool; videos are read front to back in one pass (their frames' faces found in the pool). :class:`Background`
runs the whole producer in a daemon thread so that the consumer (the batching scorer) overlaps with it.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from fakescope.core.imageio import ImageReadError, read_image_bytes
from fakescope.core.safety import first_line

from .inputs import Input
from .records import Finding, FrameEntry, ScoreRecord
from .video import FaceFinder, FrameSampling, VideoFrames, VideoReadError, crop

#: Images with a side shorter than this get a note: too small to judge.
MIN_SIDE = 8
#: Images with a side shorter than this (but not flat) get a note that their score says less: the bundled detectors
#: were measured on such images only as 32 px crops, where the default flags many real photographs that were
#: downscaled (README, "How far to trust a score").
SMALL_SIDE = 64


@dataclass
class Pending:
    """An input in flight: its record, where each score goes, how many are outstanding, whether decoding ended."""

    record: ScoreRecord
    slots: list[ScoreRecord | FrameEntry] = field(default_factory=list)
    outstanding: int = 0
    decoded: bool = False
    flat_frames: int = 0  # video frames handed over that are flat
    smallest: tuple[int, int] | None = None  # (width, height) of the smallest video frame or face handed over


@dataclass(frozen=True)
class Started:
    item: Pending


@dataclass(frozen=True)
class Crop:
    item: Pending
    slot: int  # index into item.slots
    array: np.ndarray  # RGB uint8 [H, W, 3]


@dataclass(frozen=True)
class Done:
    item: Pending


class Budget:
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
class DecodeOptions:
    frames: FrameSampling
    finder: FaceFinder | None
    workers: int
    ahead: int  # inputs (or video frames, when finding faces) decoded ahead of the one being handed over
    budget: Budget
    provenance: bool = False  # read each image's provenance evidence (fakescope.detector.provenance)


def is_flat(image: np.ndarray) -> bool:
    """Whether every pixel has the same colour (a black frame, a blank page)."""
    return bool(image.size) and bool((image == image.reshape(-1, image.shape[-1])[0]).all())


def judge_note(image: np.ndarray) -> str | None:
    """Why a score of ``image`` says little (too small, flat) or less (small), or None."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        return size_note(w, h)
    if is_flat(image):
        return "flat (one colour): too flat to judge"
    return size_note(w, h)


def size_note(width: int, height: int) -> str | None:
    """Why a score of an image (or of video frames) of this size says little or less, or None."""
    if min(width, height) < MIN_SIDE:
        return f"too small to judge ({width}x{height} px)"
    if min(width, height) < SMALL_SIDE:
        return (f"small ({width}x{height} px): under {SMALL_SIDE} px a score says less; real photographs downscaled "
                "this far are often flagged (README: How far to trust a score)")
    return None


def _load_image(path: str, finder: FaceFinder | None, provenance: bool = False
                ) -> tuple[np.ndarray | None, list | None, str | None, list[Finding] | None]:
    """(pixels to score, face box, error, provenance findings) for one image file; never raises. The file is read
    once: the evidence comes from the same bytes and pixels."""
    findings = None
    try:
        data, image = read_image_bytes(path)
    except ImageReadError as exc:
        return None, None, str(exc), None
    except Exception as exc:  # noqa: BLE001 — an input must never crash the run
        return None, None, f"unreadable ({type(exc).__name__}: {first_line(exc)})", None
    if provenance:
        from .provenance import read_provenance

        findings = read_provenance(data, image)
    del data
    if finder is None:
        return image, None, None, findings
    try:
        box = finder.largest(image)
    except Exception as exc:  # noqa: BLE001
        return None, None, f"face search failed ({type(exc).__name__}: {first_line(exc)})", findings
    if box is None:
        return None, None, "no face found", findings
    return crop(image, box), list(box), None, findings


def _frame_face(image: np.ndarray, finder: FaceFinder) -> tuple[np.ndarray | None, list | None, str]:
    """(face crop, box, frame status) for one video frame; never raises."""
    try:
        box = finder.largest(image)
    except Exception:  # noqa: BLE001
        return None, None, "face search failed"
    return (None, None, "no face") if box is None else (crop(image, box), list(box), "scored")


def decode(inputs: list[Input], opts: DecodeOptions) -> Iterator[Started | Crop | Done]:
    """The messages of every input, in input order."""
    with ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="fakescope-decode") as pool:
        window: deque[tuple[Input, Future | None]] = deque()
        it = iter(inputs)

        def refill() -> None:
            while len(window) < opts.ahead:
                nxt = next(it, None)
                if nxt is None:
                    return
                image = nxt.kind == "image" and not nxt.error
                fut = pool.submit(_load_image, nxt.path, opts.finder, opts.provenance) if image else None
                window.append((nxt, fut))

        refill()
        while window:
            inp, fut = window.popleft()
            refill()
            if inp.error is not None:
                item = Pending(ScoreRecord(inp.path, inp.kind, error=inp.error))
                yield Started(item)
            elif inp.kind == "video":
                yield from _decode_video(inp, opts, pool)
                continue
            else:
                array, box, error, findings = fut.result()
                item = Pending(ScoreRecord(inp.path, "image", error=error, face=box,
                                           face_searched=opts.finder is not None, provenance=findings,
                                           note=judge_note(array) if array is not None else None))
                yield Started(item)
                if array is not None:
                    item.slots.append(item.record)
                    opts.budget.take(array.nbytes)
                    yield Crop(item, 0, array)
            yield Done(item)


def _decode_video(inp: Input, opts: DecodeOptions, pool: ThreadPoolExecutor) -> Iterator[Started | Crop | Done]:
    item = Pending(ScoreRecord(inp.path, "video"))
    try:
        video = VideoFrames(inp.path, opts.frames)
    except VideoReadError as exc:
        item.record.error = str(exc)
        yield Started(item)
        yield Done(item)
        return
    except Exception as exc:  # noqa: BLE001 — one bad video must never end the run
        item.record.error = f"video could not be opened ({type(exc).__name__}: {first_line(exc)})"
        yield Started(item)
        yield Done(item)
        return
    rec = item.record
    rec.fps, rec.frame_count, rec.frames = video.fps, video.stated_count, []
    if opts.provenance:
        from .provenance import read_video_provenance

        rec.provenance = read_video_provenance(inp.path)
    yield Started(item)
    timeline = rec.frames
    pending: deque[tuple[FrameEntry, Future | np.ndarray]] = deque()

    def emit(entry: FrameEntry, result) -> Iterator[Crop]:
        if opts.finder is None:
            array = result
        else:
            array, entry.face, entry.status = result.result()
            if array is None:
                return
        item.slots.append(entry)
        item.flat_frames += is_flat(array)
        h, w = array.shape[:2]
        if item.smallest is None or min(h, w) < min(item.smallest):
            item.smallest = (w, h)
        opts.budget.take(array.nbytes)
        yield Crop(item, len(item.slots) - 1, array)

    try:
        for frame in video:
            entry = FrameEntry(frame.index, frame.time)
            timeline.append(entry)
            if opts.finder is not None:
                pending.append((entry, pool.submit(_frame_face, frame.image, opts.finder)))
            else:
                pending.append((entry, frame.image))
            while len(pending) > opts.ahead or (pending and opts.finder is None):
                yield from emit(*pending.popleft())
    except VideoReadError as exc:
        rec.error = str(exc)
    except Exception as exc:  # noqa: BLE001 — a damaged video must never crash the run
        rec.error = f"video decoding failed ({type(exc).__name__}: {first_line(exc)})"
    while pending:
        yield from emit(*pending.popleft())
    rec.frame_count = video.frame_count
    rec.frames_decoded = video.decoded
    if video.loss is not None:
        timeline += [FrameEntry(i, video.time_of(i), status="not decoded") for i in video.loss.missing]
        timeline.sort(key=lambda e: e.index)
        rec.lost = video.loss.message(len(video.wanted))
    yield Done(item)


class Background:
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
