"""Scoring user inputs: image files, folders, globs and videos in, one record per input out.

Every record has ``path``, ``kind`` (``image``, ``video``, or ``folder`` for a folder that could not be walked),
``score`` (the probability that the input is synthetic, or null), ``label`` (``fake``/``real`` at the threshold,
or null) and ``error`` (null, or a one-line reason). An error does not always mean no score: a video damaged
part-way is scored on the frames that decoded, and ``error`` says what was lost. A bad input never stops the others.

Videos add ``aggregate`` (how frame scores became the video's score), ``threshold``, ``fps``, ``frame_count``,
``frames_decoded`` and ``frames``, the timeline: one entry per sampled frame with ``index``, ``time`` (seconds),
``score``, ``label``, ``face`` (the crop box ``[x, y, w, h]`` with ``faces=True``, else null) and ``status``
(``scored``, ``no face`` or ``not decoded``). Frames without a score are left out of the aggregate. With
``faces=True`` images add ``face`` as well, and an image or video without any face gets an error. A record has
``note`` (only then) when its score says little: an image under 8 px on a side or of one colour, a video whose
scored frames are all of one colour; or when it says less: an image under 64 px on a side.

Records are :class:`~fakescope.detector.records.ScoreRecord` s (``to_json()`` gives the fields above).
Throughput: decoding (and face finding) runs in background threads, several inputs ahead, while the detector
scores the previous batch (:mod:`fakescope.detector.decoding`); crops of images and video frames share the same
batches. Inputs are found by :func:`fakescope.detector.inputs.collect_inputs`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator

import torch

from fakescope.core.progress import Progress

from .base import Detector
from .decoding import Background, Budget, Crop, DecodeOptions, Pending, Started, decode, size_note
from .inputs import Input, collect_inputs
from .records import ScoreRecord
from .video import AGGREGATES, FaceFinder, FrameSampling, vote_share
from .video import aggregate as aggregate_scores

__all__ = ["Input", "collect_inputs", "iter_scores", "score_image", "score_paths", "score_video"]


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
    provenance: bool = True,
    detail: bool = False,
    max_batch_bytes: int = 256 << 20,
    progress: Progress | None = None,
) -> Iterator[ScoreRecord]:
    """Yield one record per input, in input order (see the module docstring for the record).

    ``frames``/``every``: video frame sampling (see :class:`fakescope.detector.video.FrameSampling`); ``faces``:
    score the largest face of each image and frame instead of the whole picture; ``aggregate``: ``mean``, ``max``,
    ``topk`` (mean of the ``top_k`` highest frame scores) or ``vote``; ``provenance``: read each image or video file's
    evidence (:mod:`fakescope.detector.provenance`) into ``record.provenance``, never changing the score;
    ``detail``: images also get ``record.tiles`` (where the detector sees synthesis, from the same scoring pass)
    and ``record.preview`` (the scored pixels shrunk to :data:`PREVIEW_SIDE`), videos ``record.frame_previews``
    (for heatmaps and reports); ``progress(n)`` is called as records finish.
    A batch is scored when it holds ``batch_size`` crops or half of ``max_batch_bytes`` of pixels, or when decoding
    falls behind; decoded pixels waiting to be scored never exceed ``max_batch_bytes`` (but for one large input),
    besides the images the workers decode ahead (at most ``2 * workers + 2``, each within the pixel limit).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    threshold = float(detector.threshold if threshold is None else threshold)
    finder = (face_finder or FaceFinder()) if faces else None
    workers = max(1, workers)
    budget = Budget(max_batch_bytes)
    opts = DecodeOptions(FrameSampling(frames=frames, every=every), finder, workers, ahead=2 * workers + 2,
                         budget=budget, provenance=provenance)
    inputs = collect_inputs(paths)

    def finish(item: Pending) -> ScoreRecord:
        """A video's score and label from its frames, the error that says what could not be scored, and a note
        when every scored frame is flat."""
        rec = item.record
        if not rec.has_timeline:
            return rec
        scores = [f.score for f in rec.frames if f.score is not None]
        errors = [rec.error] if rec.error else []
        if scores:
            rec.score, rec.label = aggregate_scores(scores, aggregate, threshold, top_k)
            if aggregate == "vote":
                rec.vote_share = vote_share(scores, threshold)
        elif not errors and faces:
            errors.append(f"no face found in any of the {len(rec.frames)} sampled frames")
        elif not errors:
            errors.append("no frame could be scored")
        if rec.lost:
            errors.append(rec.lost)
        rec.error = "; ".join(errors) or None
        if scores and item.flat_frames == len(scores):
            rec.note = "every scored frame flat: too flat to judge"
        elif scores and item.smallest is not None:
            rec.note = size_note(*item.smallest)  # frames (or faces) as small as an image that gets one
        rec.aggregate, rec.top_k, rec.threshold = aggregate, top_k if aggregate == "topk" else None, threshold
        return rec

    open_items: deque[Pending] = deque()
    batch: list[Crop] = []

    def run_batch() -> None:
        arrays = [c.array for c in batch]
        if detail:
            probs, grids = detector.predict_tiles(arrays, device=device)
        else:
            probs, grids = detector.predict_proba(arrays, device=device), [None] * len(batch)
        for c, p, grid in zip(batch, probs, grids, strict=True):
            target = c.item.slots[c.slot]  # the record, or a video frame
            target.score = float(p)
            target.label = "fake" if p >= threshold else "real"
            c.item.outstanding -= 1
            if detail:
                _keep_detail(c, target, grid)
        budget.give(sum(c.array.nbytes for c in batch))
        batch.clear()

    def ready() -> Iterator[ScoreRecord]:
        while open_items and open_items[0].decoded and open_items[0].outstanding == 0:
            rec = finish(open_items.popleft())
            if progress is not None:
                progress(1)
            yield rec

    background = Background(lambda: decode(inputs, opts), maxsize=batch_size + 8, stop=budget.stop)
    batch_bytes = 0
    for msg in background:
        if msg is Background.IDLE:  # decoding is behind: score what is there rather than wait
            if batch:
                run_batch()
                batch_bytes = 0
                yield from ready()
            continue
        if isinstance(msg, Started):
            open_items.append(msg.item)
        elif isinstance(msg, Crop):
            msg.item.outstanding += 1
            batch.append(msg)
            batch_bytes += msg.array.nbytes
            if len(batch) >= batch_size or 2 * batch_bytes >= max_batch_bytes:
                run_batch()
                batch_bytes = 0
                yield from ready()
        else:  # Done
            msg.item.decoded = True
            yield from ready()
    if batch:
        run_batch()
    yield from ready()


#: Longest side of the previews kept with ``detail=True`` (image previews; video frames get half).
PREVIEW_SIDE = 384


def _keep_detail(c: Crop, target, grid) -> None:
    from fakescope.core.report import thumbnail

    rec = c.item.record
    if target is rec:
        rec.tiles, rec.preview = grid, thumbnail(c.array, PREVIEW_SIDE)
    else:  # a video frame
        if rec.frame_previews is None:
            rec.frame_previews = []
        rec.frame_previews.append((target.index, thumbnail(c.array, PREVIEW_SIDE // 2)))


def score_paths(paths: Iterable[str | os.PathLike | Input], detector: Detector, **kwargs) -> list[ScoreRecord]:
    """All records of :func:`iter_scores` as a list."""
    return list(iter_scores(paths, detector, **kwargs))


def score_video(path: str | os.PathLike, detector: Detector, **kwargs) -> ScoreRecord:
    """The record of one video (any file: it is read as a video whatever its name)."""
    return next(iter_scores([Input(os.fspath(path), "video")], detector, **kwargs))


def score_image(path: str | os.PathLike, detector: Detector, **kwargs) -> ScoreRecord:
    """The record of one image file."""
    return next(iter_scores([Input(os.fspath(path), "image")], detector, **kwargs))
