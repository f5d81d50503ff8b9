"""Score records: what ``fakescope score`` reports per input, typed, and turned into JSON in one place.

A :class:`ScoreRecord` per input (image, video, or a folder that could not be walked) and, for videos, a
:class:`FrameEntry` per sampled frame; beside the score, the provenance evidence the file carries (a
:class:`Finding` each, see :mod:`fakescope.detector.provenance`) and, when asked for, the :class:`TileGrid` that
says where in the image the detector sees synthesis. ``to_json()`` gives the documented fields in their
documented order; the CLI's JSON, CSV and table renderers and :func:`fakescope.detector.video.plot_timelines`
read the attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fakescope.core.safety import shown_path

FRAME_STATUSES = ("scored", "no face", "face search failed", "not decoded")

#: How strongly a provenance finding says "synthetic", strongest first. ``info``: evidence that says nothing of
#: synthesis (a camera's Make tag, a valid manifest of a capture); ``error``: metadata that could not be read.
STRENGTHS = ("strong", "moderate", "weak", "info", "error")


@dataclass(frozen=True)
class Finding:
    """One piece of provenance evidence a file carries. It never changes the detector's score."""

    kind: str  # c2pa | xmp | exif | png-text | watermark
    found: str  # what was found, one line in words ("C2PA: created by <generator>")
    strength: str  # one of STRENGTHS
    detail: dict | None = None  # the values read (claim generator, signer, chunk names, bits matched, ...)

    @property
    def synthetic(self) -> bool:
        """Whether the finding points to synthesis (and so belongs to why an image is flagged)."""
        return self.strength in ("strong", "moderate", "weak")

    def to_json(self) -> dict:
        out = {"kind": self.kind, "found": self.found, "strength": self.strength}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class TileGrid:
    """Where the detector looked: the ``crop``-sized tiles that cover an image of ``height``×``width`` (top-left
    corners, edge tiles overlapping their neighbour), each tile's raw (uncalibrated) score and its calibrated score
    on its own.

    The image's ``score`` is not the mean of the tiles' calibrated scores: it is the calibration of the mean of
    their raw scores (``raw_mean`` in JSON), and calibration is not linear. Both are in the record, named so."""

    crop: int
    height: int
    width: int
    origins: list[tuple[int, int]]  # (y, x) per tile
    scores: list[float]  # per tile, same order: its raw score calibrated on its own
    raw: list[float] | None = None  # per tile, same order: the network's uncalibrated score (None: not kept)

    #: What the JSON record says of its numbers (a reader need not know the calibration to read them right).
    MEANING = ("each tile's score is its raw score calibrated on its own; the image's score is the calibration of "
               "raw_mean, the mean of the tiles' raw scores, so it is not the mean of the tiles' scores")

    def to_json(self) -> dict:
        tiles = [{"x": x, "y": y, "score": round(s, 6)} for (y, x), s in zip(self.origins, self.scores, strict=True)]
        if self.raw is None:
            return {"crop": self.crop, "height": self.height, "width": self.width, "tiles": tiles}
        for tile, r in zip(tiles, self.raw, strict=True):
            tile["raw"] = round(r, 6)
        return {"crop": self.crop, "height": self.height, "width": self.width,
                "raw_mean": round(sum(self.raw) / len(self.raw), 6) if self.raw else None,
                "scores": self.MEANING, "tiles": tiles}


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
    vote_share: float | None = None  # aggregate vote: the share of frames at or above the threshold (the label's
    # ground); the score stays a probability (the frames' mean)
    top_k: int | None = None  # frames averaged by topk
    threshold: float | None = None
    fps: float | None = None
    frame_count: int | None = None
    frames_decoded: int | None = None
    note: str | None = None  # why the score says little (too small, too flat), or None; in to_json() only when set
    provenance: list[Finding] | None = None  # evidence the file carries (None: not read); in to_json() when read
    tiles: TileGrid | None = None  # images scored with tile detail: where the detector sees synthesis
    heatmap: str | None = None  # the heatmap PNG written for this image (--heatmap), or None
    # previews kept for heatmaps and reports (never in JSON): the scored pixels, shrunk, and per video frame
    preview: Any = field(default=None, repr=False)  # uint8 [h, w, 3] or None
    frame_previews: list[tuple[int, Any]] | None = field(default=None, repr=False)  # (frame index, uint8 image)
    lost: str | None = field(default=None, repr=False)  # frames lost to damage, said in ``error`` when finished

    def __post_init__(self) -> None:  # every output (JSON, CSV, table, report) can hold the name
        self.path = shown_path(self.path)

    @property
    def has_timeline(self) -> bool:
        return self.kind == "video" and self.frames is not None

    def frames_summary(self) -> tuple[int, int]:
        """``(frames scored, frames sampled)``."""
        frames = self.frames or []
        return sum(f.score is not None for f in frames), len(frames)

    def to_json(self) -> dict:
        """The record as documented: ``path, kind, score, label, error``, then ``face`` for images scored with
        faces, then for videos ``aggregate, [top_k | vote_share], threshold, fps, frame_count, frames_decoded,
        frames``, and ``note`` when there is one (an image too small or too flat to judge, a video of flat frames),
        then ``provenance`` (a list of findings) when evidence was read, and ``tiles`` when tile detail was
        asked for."""
        out: dict = {"path": self.path, "kind": self.kind, "score": self.score, "label": self.label,
                     "error": self.error}
        if self.face_searched:
            out["face"] = self.face
        if self.has_timeline:
            out["aggregate"] = self.aggregate
            if self.aggregate == "topk":
                out["top_k"] = self.top_k
            if self.aggregate == "vote":
                out["vote_share"] = self.vote_share
            out.update(threshold=self.threshold, fps=self.fps, frame_count=self.frame_count,
                       frames_decoded=self.frames_decoded, frames=[f.to_json() for f in self.frames])
        if self.note is not None:
            out["note"] = self.note
        if self.provenance is not None:
            out["provenance"] = [f.to_json() for f in self.provenance]
        if self.tiles is not None:
            out["tiles"] = self.tiles.to_json()
        if self.heatmap is not None:
            out["heatmap"] = self.heatmap
        return out

    def flagged_by(self, threshold: float | None = None) -> list[str]:
        """Why the input is flagged, in words: each finding that points to synthesis, strongest first, then the
        detector's score when it says fake ("C2PA: created by X", "PNG parameters chunk", "detector 0.93")."""
        reasons = [f.found for f in sorted(self.provenance or [], key=lambda f: STRENGTHS.index(f.strength))
                   if f.synthetic]
        if self.score is not None and self.label == "fake":
            if self.vote_share is not None:  # the vote decided the label, not the mean score
                reasons.append(f"detector: {self.vote_share:.0%} of frames fake")
            else:
                reasons.append(f"detector {self.score:.2f}")
        return reasons
