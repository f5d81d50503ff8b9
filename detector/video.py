"""Video frames and faces for scoring: sampling frames in one sequential pass, finding the largest face.

Frames are sampled evenly (``frames=N``) or every K-th (``every=K``) while the video is decoded front to back with
``grab()`` (decode only) and ``retrieve()`` (convert to pixels) for the frames we keep: seeking frame by frame is
about ten times slower and unreliable on damaged files. A video that stops decoding part-way keeps the frames read
so far and says what was lost.

Faces are found with the Viola–Jones frontal-face Haar cascade (Viola & Jones, CVPR 2001) that ships inside the
opencv-python 4.x wheels (``cv2.data.haarcascades``), or, where that is missing (OpenCV 5 dropped it), with
scikit-image's LBP frontal-face cascade (Liao et al., ICB 2007). Both work offline. The crop is the square of
``scale`` (1.3) times the face's side, centred on the face and clipped to the frame, so the detector sees the
face with a margin of hair, ears and background, as in FaceForensics++ (Rössler et al., ICCV 2019).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# FFmpeg inside OpenCV reports every damaged macroblock on stderr; damaged input is reported in the records
# instead. Read once, when OpenCV first opens a video.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fakescope.core.formats import video_frame_size  # noqa: E402
from fakescope.core.imageio import MAX_PIXELS, ImageReadError, check_file, os_reason  # noqa: E402

if TYPE_CHECKING:
    from .records import ScoreRecord

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


class VideoReadError(ValueError):
    """A video that could not be opened or has no decodable frame; the message is one line naming why."""


# --- frames ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FrameSampling:
    frames: int = 32  # frames sampled evenly from first to last (ignored when ``every`` is set)
    every: int | None = None  # take frames 0, K, 2K, ... instead

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"frames must be at least 1, got {self.frames}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")

    def indices(self, frame_count: int) -> list[int]:
        """The frame indices to keep out of ``frame_count``."""
        if self.every is not None:
            return list(range(0, frame_count, self.every))
        if frame_count <= self.frames:
            return list(range(frame_count))
        return sorted(set(np.linspace(0, frame_count - 1, self.frames).round().astype(int).tolist()))


@dataclass
class Frame:
    index: int  # position in the video, from 0
    time: float | None  # seconds from the start (None when the video states no frame rate)
    image: np.ndarray  # RGB uint8 [H, W, 3]


@dataclass
class FrameLoss:
    """What a damaged video lost: frames it states but could not decode, and which sampled frames they were."""

    stated: int  # frames the container states
    decoded: int  # frames decoded before the stream broke off
    missing: list[int]  # sampled indices that could not be decoded

    def message(self, sampled: int) -> str:
        unscored = f"{len(self.missing)} of {sampled} sampled frames not scored"
        if self.stated > self.decoded:
            return (f"decoding stopped after {self.decoded} of {self.stated} frames: "
                    f"{self.stated - self.decoded} frames lost, {unscored}")
        return f"damaged frames: {unscored}"


#: No container stores a frame in fewer bytes (sample-table or index entry, chunk or block header, frame data).
MIN_FRAME_BYTES = 8


def _check_frame_size(size: tuple[int, int] | None, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise VideoReadError(f"frames too large: {size[0]}x{size[1]} pixels (limit {max_pixels:,}), "
                             "refused before decoding")


class VideoFrames:
    """The sampled frames of one video, decoded in a single sequential pass.

    Opening checks the file and the container (raising :class:`VideoReadError`); iterating yields :class:`Frame`
    s; afterwards ``loss`` is ``None`` or a :class:`FrameLoss`, and ``wanted`` lists the sampled indices. Frames
    larger than the image limit (``max_pixels``) are refused on the frame size the container's header states (AVI,
    MP4/MOV: read before the decoder opens the file; any container: as the decoder reports it, before any frame
    is read), as images are.
    """

    def __init__(self, path: str | os.PathLike, sampling: FrameSampling = FrameSampling(),
                 max_pixels: int = MAX_PIXELS) -> None:
        self.path = str(path)
        self.sampling = sampling
        try:
            check_file(path, max_bytes=None)
            with open(path, "rb") as f:  # permission and readability, which VideoCapture would not explain
                f.read(16)
        except ImageReadError as exc:
            raise VideoReadError(str(exc)) from None
        except OSError as exc:
            raise VideoReadError(os_reason(exc)) from None
        _check_frame_size(video_frame_size(path), max_pixels)  # from the header, before any decoder sees it
        cap = self._open()
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        if self.fps is not None and not 0 < self.fps < 10_000:
            self.fps = None
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        stated = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        _check_frame_size((self.width, self.height), max_pixels)
        # a header can state any count: one the file cannot hold is counted by a first pass instead (sampling
        # 32 frames of 2 billion stated would score the first frame only; --every 1 would list them all)
        plausible = os.stat(path).st_size // MIN_FRAME_BYTES
        self.stated_count = stated if 0 < stated <= plausible else None
        self.frame_count = self.stated_count  # counted by a first pass when the container does not say
        self.wanted: list[int] = []
        self.decoded = 0
        self.loss: FrameLoss | None = None

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoReadError("not a readable video (no demuxer or decoder accepts it: a damaged container, one "
                                 "holding no frames, or a codec this OpenCV build lacks)")
        return cap

    def _count_frames(self) -> int:
        cap = self._open()
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        return n

    def time_of(self, index: int) -> float | None:
        return round(index / self.fps, 4) if self.fps else None

    def __iter__(self) -> Iterator[Frame]:
        if self.frame_count is None:
            self.frame_count = self._count_frames()
        self.wanted = self.sampling.indices(self.frame_count)
        keep = set(self.wanted)
        last = self.wanted[-1] if self.wanted else -1
        cap = self._open()
        missing: list[int] = []
        index = -1
        try:
            while index < last:
                if not cap.grab():
                    break
                index += 1
                if index not in keep:
                    continue
                ok, bgr = cap.retrieve()
                if not ok or bgr is None or bgr.ndim != 3:
                    missing.append(index)
                    continue
                yield Frame(index, self.time_of(index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
        self.decoded = index + 1
        if self.decoded == 0:
            raise VideoReadError("no decodable frames")
        missing += [i for i in self.wanted if i > index]
        if missing:
            stated = max(self.frame_count, self.decoded) if index < last else self.decoded
            self.loss = FrameLoss(stated=stated, decoded=self.decoded, missing=missing)


# --- faces -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FaceConfig:
    scale: float = 1.3  # side of the square crop, relative to the larger side of the detected face
    detect_side: int = 320  # frames are shrunk to this longer side before detection (speed); boxes map back
    min_face: int = 24  # smallest face searched, in pixels of the shrunk frame
    scale_factor: float = 1.1  # step between the cascade's search scales
    min_neighbors: int = 5  # overlapping detections needed to keep a face (higher: fewer false faces)


class FaceFinder:
    """The largest frontal face in an image, with OpenCV's Haar cascade or scikit-image's LBP cascade.

    ``backend``: ``auto`` (Haar when OpenCV ships it, else LBP), ``haar`` or ``lbp``. Safe to share between
    threads: each thread gets its own cascade.
    """

    def __init__(self, config: FaceConfig = FaceConfig(), backend: str = "auto") -> None:
        self.config = config
        haar = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / "haarcascade_frontalface_default.xml"
        has_haar = hasattr(cv2, "CascadeClassifier") and haar.is_file()
        if backend == "auto":
            backend = "haar" if has_haar else "lbp"
        if backend == "haar" and not has_haar:
            raise RuntimeError("this OpenCV has no Haar cascades (they ship with opencv-python 4.x)")
        if backend not in ("haar", "lbp"):
            raise ValueError(f"unknown face backend {backend!r}; use auto, haar or lbp")
        self.backend = backend
        self._haar_file = str(haar)
        self._local = threading.local()

    def _cascade(self):
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            if self.backend == "haar":
                cascade = cv2.CascadeClassifier(self._haar_file)
            else:
                from skimage.data import lbp_frontal_face_cascade_filename
                from skimage.feature import Cascade

                cascade = Cascade(lbp_frontal_face_cascade_filename())
            self._local.cascade = cascade
        return cascade

    def faces(self, image: np.ndarray) -> list[Box]:
        """Every frontal face found in RGB ``uint8 [H, W, 3]``, as boxes in the image's pixels."""
        cfg = self.config
        h, w = image.shape[:2]
        shrink = min(1.0, cfg.detect_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if shrink < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * shrink)), max(1, round(h * shrink))),
                              interpolation=cv2.INTER_AREA)
        if min(gray.shape) < cfg.min_face:
            return []
        if self.backend == "haar":
            found = self._cascade().detectMultiScale(gray, scaleFactor=cfg.scale_factor,
                                                     minNeighbors=cfg.min_neighbors,
                                                     minSize=(cfg.min_face, cfg.min_face))
            boxes = [tuple(map(int, b)) for b in found]
        else:
            found = self._cascade().detect_multi_scale(
                img=gray.astype(np.float32) / 255.0, scale_factor=1 + (cfg.scale_factor - 1) * 2, step_ratio=1,
                min_size=(cfg.min_face, cfg.min_face), max_size=gray.shape,
                min_neighbor_number=max(1, cfg.min_neighbors // 2))
            boxes = [(d["c"], d["r"], d["width"], d["height"]) for d in found]
        return [(round(x / shrink), round(y / shrink), round(bw / shrink), round(bh / shrink))
                for x, y, bw, bh in boxes]

    def largest(self, image: np.ndarray) -> Box | None:
        """The largest face's square crop box (``scale`` × the face, clipped to the image), or None."""
        found = self.faces(image)
        if not found:
            return None
        face = max(found, key=lambda b: b[2] * b[3])
        return square_box(face, image.shape[:2], self.config.scale)


def square_box(face: Box, frame_hw: tuple[int, int], scale: float = 1.3) -> Box:
    """The square of ``scale`` × the face's larger side, centred on the face, clipped to the frame."""
    x, y, w, h = face
    side = max(w, h) * scale
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x1, y1 = min(frame_hw[1], round(cx + side / 2)), min(frame_hw[0], round(cy + side / 2))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.ascontiguousarray(image[y : y + h, x : x + w])


# --- aggregation -------------------------------------------------------------------------------------------

AGGREGATES = ("mean", "max", "topk", "vote")


def aggregate(scores: Sequence[float], method: str, threshold: float, top_k: int = 5) -> tuple[float, str]:
    """One video score and label from its frame scores.

    ``mean``, ``max``, ``topk`` (mean of the ``top_k`` highest) give a probability labelled at ``threshold``;
    ``vote`` labels the video fake when more than half of its frames are at or above ``threshold`` (that share is
    :func:`vote_share`); its score stays a probability, the mean of the frames'.
    """
    if len(scores) == 0:
        raise ValueError("no frame scores to aggregate")
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if method == "mean":
        value = float(s.mean())
    elif method == "max":
        value = float(s[0])
    elif method == "topk":
        value = float(s[: max(1, top_k)].mean())
    elif method == "vote":
        return float(s.mean()), "fake" if vote_share(s, threshold) > 0.5 else "real"
    else:
        raise ValueError(f"unknown aggregate {method!r}; use one of {', '.join(AGGREGATES)}")
    return value, "fake" if value >= threshold else "real"


def vote_share(scores: Sequence[float], threshold: float) -> float:
    """The share of frames at or above ``threshold``: what ``vote`` decides on."""
    return float((np.asarray(scores, dtype=np.float64) >= threshold).mean())


# --- timeline plot -----------------------------------------------------------------------------------------

def plot_timelines(records: Sequence[ScoreRecord], path: str | os.PathLike, threshold: float | None = None) -> int:
    """Draw score over time for every video record (one panel each, threshold as a dashed line) into ``path``.

    Frames without a face, or lost to damage, are gaps in the line and ticks along the bottom.
    Returns the number of videos drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from fakescope.core.imageio import atomic_path

    videos = [r for r in records if r.has_timeline and r.frames]
    if not videos:
        return 0
    fig = Figure(figsize=(8, 2.2 * len(videos) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(videos), 1, squeeze=False)[:, 0]
    for ax, rec in zip(axes, videos, strict=True):
        draw_timeline(ax, rec, threshold)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(path).suffix.lstrip(".").lower() or "png")
    return len(videos)


def draw_timeline(ax, rec: ScoreRecord, threshold: float | None = None) -> None:
    """One video's score over time on matplotlib axes ``ax`` (a panel of :func:`plot_timelines`, or a report's
    figure): the frame scores, the threshold dashed, frames without a score as ticks along the bottom."""
    frames = rec.frames
    timed = all(f.time is not None for f in frames)
    x = np.array([f.time if timed else f.index for f in frames], dtype=float)
    y = np.array([np.nan if f.score is None else f.score for f in frames], dtype=float)
    ax.plot(x, y, marker="o", markersize=3, linewidth=1.2, color="tab:blue", label="frame score")
    thr = threshold if rec.threshold is None else rec.threshold
    if thr is not None:
        ax.axhline(thr, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {thr:.3f}")
    gaps = x[np.isnan(y)]
    if len(gaps):
        ax.plot(gaps, np.full(len(gaps), -0.03), "|", color="gray", markersize=8, label="no score")
    score = "-" if rec.score is None else f"{rec.score:.3f}"
    ax.set_title(f"{Path(rec.path).name}: {rec.aggregate or ''} {score} ({rec.label or 'no label'})",
                 fontsize=9, loc="left", parse_math=False)  # a file name is text, never mathtext (`$...$`)
    ax.set_ylim(-0.06, 1.02)
    ax.set_ylabel("P(synthetic)")
    ax.set_xlabel("time (s)" if timed else "frame")
    ax.legend(loc="upper right", fontsize=7)
