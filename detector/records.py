"""Score records: what ``fakescope score`` reports per input, typed, and turned into JSON in one place.

A :class:`ScoreRecord` per input (image, video, or a folder that could not be walked) and, for videos, a
:class:`FrameEntry` per sampled frame. ``to_json()`` gives the documented fields in their documented order; the
CLI's JSON, CSV and table renderers and :func:`fakescope.detector.video.plot_timelines` read the attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FRAME_STATUSES = ("scored", "no face", "face search failed", "not decoded")


@dataclass
class FrameEntry:
    """One sampled video frame."""

    index: int  # frame number in the video
    time: float | None  # seconds from the start (None when the video states no frame rate)
    score: float | None = None  # calibrated probability of being synthetic; None when not scored
    label: str | None = None  # fake | real at the threshold
    face: list[int] | None = None  # the scored face box [x, y, w, h] (faces=True)
    status: str = "scored"  # one of FRAME_STATUSES

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ScoreRecord:
    """One input's result. ``error`` does not always mean no score: a video damaged part-way is scored on the
    frames that decoded, and ``error`` says what was lost."""

    path: str
    kind: str  # image | video | folder (a folder that could not be walked)
    score: float | None = None
    label: str | None = None  # fake | real at the threshold
    error: str | None = None  # a one-line reason, or None
    face: list[int] | None = None  # images scored with faces=True: the face box (None: no face found)
    face_searched: bool = False  # whether ``face`` belongs to the record (images scored with faces=True)
    # videos that could be opened: the timeline and how it was aggregated
    frames: list[FrameEntry] | None = None
    aggregate: str | None = None  # mean | max | topk | vote
    top_k: int | None = None  # frames averaged by topk
    threshold: float | None = None
    fps: float | None = None
    frame_count: int | None = None
    frames_decoded: int | None = None
    note: str | None = None  # why the score says little (too small, too flat), or None; in to_json() only when set
    lost: str | None = field(default=None, repr=False)  # frames lost to damage, said in ``error`` when finished

    @property
    def has_timeline(self) -> bool:
        return self.kind == "video" and self.frames is not None

    def frames_summary(self) -> tuple[int, int]:
        """``(frames scored, frames sampled)``."""
        frames = self.frames or []
        return sum(f.score is not None for f in frames), len(frames)

    def to_json(self) -> dict:
        """The record as documented: ``path, kind, score, label, error``, then ``face`` for images scored with
        faces, then for videos ``aggregate, [top_k], threshold, fps, frame_count, frames_decoded, frames``, and
        last ``note`` when there is one (an image too small or too flat to judge, a video of flat frames)."""
        out: dict = {"path": self.path, "kind": self.kind, "score": self.score, "label": self.label,
                     "error": self.error}
        if self.face_searched:
            out["face"] = self.face
        if self.has_timeline:
            out["aggregate"] = self.aggregate
            if self.aggregate == "topk":
                out["top_k"] = self.top_k
            out.update(threshold=self.threshold, fps=self.fps, frame_count=self.frame_count,
                       frames_decoded=self.frames_decoded, frames=[f.to_json() for f in self.frames])
        if self.note is not None:
            out["note"] = self.note
        return out
