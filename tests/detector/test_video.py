"""Video frame sampling (one sequential pass), damaged videos, face boxes, aggregation and the timeline plot."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import fakescope.detector.video as video
import numpy as np
import pytest
from fakescope.detector.records import FrameEntry, ScoreRecord
from fakescope.detector.video import (
    FaceFinder,
    FrameSampling,
    VideoFrames,
    VideoReadError,
    aggregate,
    plot_timelines,
    square_box,
    vote_share,
)
from skimage import data as skdata


def gray_level(i: int) -> int:
    return 20 + 5 * i % 200


def write_video(path: Path, count: int = 30, size: tuple[int, int] = (96, 64), fourcc: str = "MJPG",
                fps: float = 10.0, face_every: int = 0) -> Path:
    """Frame i is a flat gray of ``gray_level(i)`` (so a decoded frame tells its index); with ``face_every`` = k,
    every k-th frame carries a photographed face in the middle."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    face = None
    if face_every:
        side = min(size) * 3 // 4
        face = cv2.resize(cv2.cvtColor(skdata.astronaut()[20:260, 150:390], cv2.COLOR_RGB2BGR), (side, side))
    for i in range(count):
        frame = np.full((size[1], size[0], 3), gray_level(i), np.uint8)
        if face is not None and i % face_every == 0:
            y, x = (size[1] - face.shape[0]) // 2, (size[0] - face.shape[1]) // 2
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
        writer.write(frame)
    writer.release()
    return path


def damage_middle(path: Path) -> Path:
    """Zero the middle third of the file: the container survives, the frames there do not."""
    data = bytearray(path.read_bytes())
    n = len(data)
    data[n // 3 : 2 * n // 3] = bytes(2 * n // 3 - n // 3)
    path.write_bytes(bytes(data))
    return path


# --- sampling -----------------------------------------------------------------------------------------------

def test_sampling_indices():
    assert FrameSampling(frames=4).indices(10) == [0, 3, 6, 9]
    assert FrameSampling(frames=32).indices(5) == [0, 1, 2, 3, 4]
    assert FrameSampling(every=4).indices(10) == [0, 4, 8]
    assert FrameSampling(frames=3).indices(0) == []
    with pytest.raises(ValueError):
        FrameSampling(frames=0)
    with pytest.raises(ValueError):
        FrameSampling(every=0)


CONTAINERS = [("mp4", "mp4v"), ("avi", "MJPG"), ("mkv", "XVID"), ("mov", "mp4v"), ("webm", "VP80")]


@pytest.mark.parametrize(("suffix", "fourcc"), CONTAINERS)
def test_frames_are_the_sampled_ones(tmp_path, suffix, fourcc):
    path = write_video(tmp_path / f"v.{suffix}", count=30, fourcc=fourcc)
    frames = VideoFrames(path, FrameSampling(frames=4))
    got = list(frames)
    assert [f.index for f in got] == [0, 10, 19, 29] == frames.wanted
    assert [f.time for f in got] == pytest.approx([0.0, 1.0, 1.9, 2.9])
    for f in got:
        assert f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8
        assert abs(float(f.image.mean()) - gray_level(f.index)) < 4  # the frame it claims to be
    assert frames.decoded == 30 and frames.loss is None


def test_every_kth_frame(tmp_path):
    path = write_video(tmp_path / "v.avi", count=12)
    assert [f.index for f in VideoFrames(path, FrameSampling(every=5))] == [0, 5, 10]


RealCapture = cv2.VideoCapture


class SpyCapture:
    """Wraps cv2.VideoCapture, counting grab/retrieve and refusing any seek."""

    calls: dict[str, int] = {}

    def __init__(self, *args):
        self._cap = RealCapture(*args)

    def grab(self):
        SpyCapture.calls["grab"] = SpyCapture.calls.get("grab", 0) + 1
        return self._cap.grab()

    def retrieve(self):
        SpyCapture.calls["retrieve"] = SpyCapture.calls.get("retrieve", 0) + 1
        return self._cap.retrieve()

    def set(self, *args):
        raise AssertionError(f"seek attempted: set{args}")

    def read(self):
        raise AssertionError("read() decodes and converts every frame; grab/retrieve expected")

    def __getattr__(self, name):
        return getattr(self._cap, name)


def test_one_sequential_pass_without_seeking(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", count=40, fourcc="mp4v")
    monkeypatch.setattr(video.cv2, "VideoCapture", SpyCapture)
    SpyCapture.calls = {}
    got = list(VideoFrames(path, FrameSampling(frames=5)))
    assert len(got) == 5
    assert SpyCapture.calls == {"grab": 40, "retrieve": 5}  # pixels converted only for the kept frames


def test_unstated_frame_count_is_counted(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.avi", count=9)
    real_get = RealCapture.get

    class NoCount(SpyCapture):
        def get(self, prop):
            return 0.0 if prop == cv2.CAP_PROP_FRAME_COUNT else real_get(self._cap, prop)

    monkeypatch.setattr(video.cv2, "VideoCapture", NoCount)
    frames = VideoFrames(path, FrameSampling(frames=3))
    assert frames.stated_count is None
    assert [f.index for f in frames] == [0, 4, 8] and frames.frame_count == 9



def test_a_frame_count_the_file_cannot_hold_is_counted_instead(tmp_path):
    """An AVI header patched to state 2 billion frames: sampling 32 of them would score frame 0 alone (and
    ``--every 1`` would list 2 billion); the count the file can hold is taken from a first pass instead."""
    import struct

    data = bytearray(write_video(tmp_path / "v.avi", count=9).read_bytes())
    for tag, offset in ((b"avih", 16), (b"strh", 32)):  # dwTotalFrames, dwLength
        at = data.find(tag) + 8 + offset
        data[at : at + 4] = struct.pack("<I", 2_000_000_000)
    (tmp_path / "lie.avi").write_bytes(bytes(data))
    cap = cv2.VideoCapture(str(tmp_path / "lie.avi"), cv2.CAP_FFMPEG)
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) > 1e9  # OpenCV believes the header
    cap.release()
    frames = VideoFrames(tmp_path / "lie.avi", FrameSampling(frames=3))
    assert frames.stated_count is None
    assert [f.index for f in frames] == [0, 4, 8] and frames.frame_count == 9 and frames.loss is None
    every = VideoFrames(tmp_path / "lie.avi", FrameSampling(every=1))
    assert [f.index for f in every] == list(range(9)) and every.loss is None

# --- damaged videos -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("suffix", "fourcc"), [("avi", "MJPG"), ("mp4", "mp4v")])
def test_video_damaged_in_the_middle_keeps_what_decodes(tmp_path, suffix, fourcc):
    path = damage_middle(write_video(tmp_path / f"v.{suffix}", count=60, fourcc=fourcc))
    frames = VideoFrames(path, FrameSampling(frames=10))
    got = list(frames)
    assert 0 < frames.decoded < 60
    assert got and all(f.index < frames.decoded for f in got)
    assert frames.loss is not None and frames.loss.stated == 60
    assert frames.loss.missing == [i for i in frames.wanted if i >= frames.decoded]
    message = frames.loss.message(len(frames.wanted))
    assert f"after {frames.decoded} of 60 frames" in message and f"{60 - frames.decoded} frames lost" in message


def test_video_with_no_decodable_frame(tmp_path):
    path = write_video(tmp_path / "v.avi", count=20)
    data = path.read_bytes()
    movi = data.index(b"movi") + 4  # keep the AVI headers, destroy every frame
    path.write_bytes(data[:movi] + bytes(len(data) - movi))
    frames = VideoFrames(path)  # the container opens and states 20 frames...
    with pytest.raises(VideoReadError, match="^no decodable frames$"):
        list(frames)  # ...none of which decodes


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file (0 bytes)"),
    (b"plain text, not a video\n" * 20, "not a readable video"),
])
def test_unreadable_video_files(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match=f"^{re.escape(message)}"):
        VideoFrames(path)


def test_missing_and_unreadable_video(tmp_path, monkeypatch):
    with pytest.raises(VideoReadError, match="^no such file$"):
        VideoFrames(tmp_path / "gone.mp4")
    path = write_video(tmp_path / "v.avi", count=3)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(VideoReadError, match="^permission denied$"):
        VideoFrames(path)


# --- faces ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def face_frame() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 320×240 gray frame with the astronaut's head pasted at a known place: (frame RGB, pasted box)."""
    frame = np.full((240, 320, 3), 100, np.uint8)
    head = cv2.resize(skdata.astronaut()[20:260, 150:390], (160, 160), interpolation=cv2.INTER_AREA)
    frame[40:200, 120:280] = head
    return frame, (120, 40, 160, 160)


@pytest.mark.parametrize("backend", ["haar", "lbp"])
def test_largest_face_is_found_where_it_is(face_frame, backend):
    frame, (px, py, pw, ph) = face_frame
    finder = FaceFinder(backend=backend)
    box = finder.largest(frame)
    assert box is not None
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    assert px < cx < px + pw and py < cy < py + ph  # centred inside the pasted head
    assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 240
    assert finder.largest(np.full((240, 320, 3), 100, np.uint8)) is None  # no face, no box


def test_bundled_real_faces_are_found():
    from fakescope.generators.sources import create_source

    faces = create_source("faces").draw(6, size=25, channels=1, split="test", seed=0).images  # [6, 1, 25, 25]
    finder = FaceFinder()
    hits = 0
    for img in faces:
        gray = ((img[0].numpy() + 1) * 127.5).round().astype(np.uint8)
        frame = np.full((200, 200, 3), 128, np.uint8)
        frame[50:150, 50:150] = cv2.resize(gray, (100, 100), interpolation=cv2.INTER_CUBIC)[..., None]
        hits += finder.largest(frame) is not None
    assert hits >= 4


def test_square_box_is_1_3_times_the_face_and_clipped():
    assert square_box((100, 100, 40, 40), (480, 640)) == (94, 94, 52, 52)
    assert square_box((100, 100, 40, 20), (480, 640)) == (94, 84, 52, 52)  # square on the larger side
    assert square_box((0, 0, 40, 40), (480, 640)) == (0, 0, 46, 46)  # clipped at the top-left corner
    assert square_box((610, 450, 30, 30), (480, 640)) == (606, 446, 34, 34)  # and at the bottom-right


def test_unknown_face_backend():
    with pytest.raises(ValueError, match="unknown face backend"):
        FaceFinder(backend="dlib")


# --- aggregation and the plot -------------------------------------------------------------------------------

def test_aggregates():
    scores = [0.1, 0.9, 0.7, 0.2, 0.6]
    assert aggregate(scores, "mean", 0.5) == (pytest.approx(0.5), "fake")
    assert aggregate(scores, "max", 0.95) == (0.9, "real")
    assert aggregate(scores, "topk", 0.5, top_k=2) == (pytest.approx(0.8), "fake")
    assert aggregate(scores, "topk", 0.5, top_k=99) == (pytest.approx(0.5), "fake")
    assert aggregate(scores, "vote", 0.5) == (pytest.approx(np.mean(scores)), "fake")  # the score: a probability
    assert aggregate(scores, "vote", 0.65) == (pytest.approx(np.mean(scores)), "real")
    assert vote_share(scores, 0.5) == pytest.approx(0.6) and vote_share(scores, 0.65) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        aggregate(scores, "median", 0.5)
    with pytest.raises(ValueError):
        aggregate([], "mean", 0.5)


def test_plot_timelines(tmp_path):
    frames = [FrameEntry(i, i / 10, score=None if i == 2 else 0.1 * i) for i in range(6)]
    records = [ScoreRecord("a.mp4", "video", score=0.3, label="real", aggregate="mean", threshold=0.4, frames=frames),
               ScoreRecord("b.png", "image", score=0.9, label="fake")]
    out = tmp_path / "timeline.png"
    assert plot_timelines(records, out) == 1
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] == 800
    assert plot_timelines(records[1:], tmp_path / "none.png") == 0 and not (tmp_path / "none.png").exists()


def test_a_file_name_with_dollar_signs_is_drawn_as_text(tmp_path):
    """matplotlib reads `$...$` as mathtext; a hostile video name must not break the plot (or the report)."""
    frames = [FrameEntry(i, i / 10, score=0.1 * i) for i in range(4)]
    rec = ScoreRecord(r"clip$\foo{$.mp4", "video", score=0.2, label="real", aggregate="mean", threshold=0.5,
                      frames=frames)
    assert plot_timelines([rec], tmp_path / "t.png") == 1
