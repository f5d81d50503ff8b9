"""Scoring inputs end to end through the Python API: input discovery, batching of images and frames, faces,
and a record with an error for every kind of bad input while the rest are still scored."""

from __future__ import annotations

import io
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import fakescope.detector.decoding as decoding
import numpy as np
import pytest
from fakescope.detector.base import load_detector
from fakescope.detector.scoring import Input, collect_inputs, iter_scores, score_image, score_paths, score_video
from fakescope.detector.video import FaceFinder, FrameSampling, VideoFrames
from PIL import Image
from skimage import data as skdata
from test_video import damage_middle, write_video  # tests/detector is on sys.path (pytest rootdir mode)

import fakescope.core.imageio as imageio


@pytest.fixture(scope="module")
def det():
    return load_detector()


def photo(seed: int, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 512 - 96, size=2)
    return cv2.resize(skdata.astronaut()[y : y + 96, x : x + 96], size[::-1], interpolation=cv2.INTER_AREA)


def save(path: Path, image: np.ndarray, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, fmt)
    return path


# --- inputs ---------------------------------------------------------------------------------------------------

def test_folders_are_walked_recursively_and_sorted(tmp_path):
    root = tmp_path / "in"
    for name in ["b.png", "a.jpg", "sub/c.webp", "sub/deeper/d.bmp"]:
        save(root / name, photo(0), "PNG")
    write_video(root / "sub" / "clip.avi", count=3)
    (root / "notes.txt").write_text("not an image")
    save(root / ".hidden" / "e.png", photo(0))
    save(root / ".f.png", photo(0))
    found = collect_inputs([root])
    rel = [(str(Path(i.path).relative_to(root)), i.kind) for i in found]
    assert rel == [("a.jpg", "image"), ("b.png", "image"), ("sub/c.webp", "image"), ("sub/clip.avi", "video"),
                   ("sub/deeper/d.bmp", "image")]


def test_globs_and_explicit_files(tmp_path):
    root = tmp_path / "in"
    for name in ["x1.png", "x2.png", "y.png", "sub/x3.png"]:
        save(root / name, photo(0))
    odd = root / "clip.bin"
    write_video(tmp_path / "tmp.avi", count=2).rename(odd)  # a video whatever its name
    found = collect_inputs([root / "x?.png", str(root / "**" / "x*.png"), odd, root / "nothing*.png"])
    assert [(Path(i.path).name, i.kind, i.error) for i in found] == [
        ("x1.png", "image", None), ("x2.png", "image", None),
        ("x3.png", "image", None), ("x1.png", "image", None), ("x2.png", "image", None),
        ("clip.bin", "video", None), ("nothing*.png", "image", "no file matches this pattern")]


def test_symlinked_folders_are_followed_and_loops_reported(tmp_path):
    root = tmp_path / "in"
    save(root / "a.png", photo(0))
    save(tmp_path / "elsewhere" / "b.png", photo(1))
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "sub").mkdir()
    (root / "sub" / "back").symlink_to(root)  # a loop
    (root / "self").symlink_to("self")  # a link to itself
    found = collect_inputs([root])
    assert [(os.path.relpath(i.path, root), i.kind, i.error) for i in found] == [
        ("a.png", "image", None),
        ("linked/b.png", "image", None),
        ("self", "image", "symbolic link loop"),
        ("sub/back", "folder", f"symbolic link loop: leads back to {root}"),
    ]
    # a recursive pattern through the loop lists each file once, and reports the loop as the folder walk does
    found = collect_inputs([f"{root}/**/*.png"])
    assert [Path(p.path).name for p in found if p.error is None] == ["a.png", "b.png"]
    assert [(os.path.relpath(i.path, root), i.error) for i in found if i.error] == [
        ("sub/back", f"symbolic link loop: leads back to {root}")]


# --- scoring --------------------------------------------------------------------------------------------------

def test_a_file_is_an_image_or_a_video_by_its_content_before_its_name(tmp_path):
    from fakescope.detector.inputs import kind_of

    image = save(tmp_path / "photo.png", photo(1))
    video = write_video(tmp_path / "clip.avi", count=3)
    (tmp_path / "img_as.mp4").write_bytes(image.read_bytes())
    (tmp_path / "vid_as.png").write_bytes(video.read_bytes())
    (tmp_path / "noise.mp4").write_bytes(b"neither of them")  # no signature: the name decides
    kinds = {Path(i.path).name: i.kind for i in collect_inputs([tmp_path])}
    assert kinds == {"photo.png": "image", "clip.avi": "video", "img_as.mp4": "image", "vid_as.png": "video",
                     "noise.mp4": "video"}
    assert kind_of(str(tmp_path / "img_as.mp4")) == "image" and kind_of(str(tmp_path / "vid_as.png")) == "video"
    # AVIF and HEIF images sit in the container MP4 uses (an ftyp box), under an image brand
    (tmp_path / "still.avif").write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + bytes(64))
    (tmp_path / "movie.bin").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64))
    assert kind_of(str(tmp_path / "still.avif")) == "image" and kind_of(str(tmp_path / "movie.bin")) == "video"


def test_records_follow_input_order_and_match_the_model(tmp_path, det):
    images = [save(tmp_path / f"{i}.png", photo(i, (32 + 8 * (i % 3), 40))) for i in range(7)]
    clip = write_video(tmp_path / "clip.avi", count=12, size=(64, 48))
    paths = [images[0], clip, *images[1:]]
    records = score_paths(paths, det, batch_size=3, frames=4)
    assert [r.path for r in records] == [str(p) for p in paths]
    assert all(r.error is None for r in records)
    expected = det.predict_proba([imageio.read_image(p) for p in images], device="cpu")
    got = [r.score for r in records if r.kind == "image"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # batching changes nothing
    for r in records:
        assert r.label == ("fake" if r.score >= det.threshold else "real")

    video = records[1]
    frames = [f.image for f in VideoFrames(clip, FrameSampling(frames=4))]
    frame_scores = det.predict_proba(frames, device="cpu")
    assert [f.index for f in video.frames] == [0, 4, 7, 11]
    assert [f.time for f in video.frames] == pytest.approx([0.0, 0.4, 0.7, 1.1])
    np.testing.assert_allclose([f.score for f in video.frames], frame_scores, rtol=1e-5, atol=1e-6)
    assert video.score == pytest.approx(float(np.mean(frame_scores)))
    assert video.aggregate == "mean" and video.threshold == det.threshold
    assert video.frame_count == 12 and video.frames_decoded == 12 and video.fps == 10.0


@pytest.mark.parametrize("method", ["mean", "max", "topk", "vote"])
def test_aggregate_option(tmp_path, det, method):
    clip = write_video(tmp_path / "clip.avi", count=10, size=(64, 48))
    rec = score_video(clip, det, every=2, aggregate=method, top_k=2, threshold=0.5)
    scores = np.array([f.score for f in rec.frames])
    expected = {"mean": scores.mean(), "max": scores.max(), "topk": np.sort(scores)[-2:].mean(),
                "vote": scores.mean()}[method]  # vote: the score stays a probability, the share is apart
    assert len(scores) == 5 and rec.aggregate == method and rec.score == pytest.approx(expected)
    if method == "vote":
        share = (scores >= 0.5).mean()
        assert rec.vote_share == pytest.approx(share) and rec.to_json()["vote_share"] == pytest.approx(share)
        assert rec.label == ("fake" if share > 0.5 else "real")
    else:
        assert rec.vote_share is None and "vote_share" not in rec.to_json()


def test_faces_in_images_and_frames(tmp_path, det):
    clip = write_video(tmp_path / "clip.avi", count=8, size=(320, 240), face_every=2)
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[40:200, 80:240] = cv2.resize(skdata.astronaut()[20:260, 150:390], (160, 160))
    face_png = save(tmp_path / "face.png", frame)
    blank_png = save(tmp_path / "blank.png", np.full((120, 160, 3), 90, np.uint8))
    records = score_paths([clip, face_png, blank_png], det, faces=True, every=1)
    video, face, blank = records

    statuses = [f.status for f in video.frames]
    assert statuses == ["scored", "no face"] * 4
    scored = [f for f in video.frames if f.status == "scored"]
    assert all(f.face is not None and f.score is not None for f in scored)
    assert all(f.face is None and f.score is None for f in video.frames if f.status == "no face")
    assert video.score == pytest.approx(np.mean([f.score for f in scored]))  # faceless frames left out
    assert video.error is None

    x, y, w, h = face.face
    assert w == h and 80 < x + w / 2 < 240 and 40 < y + h / 2 < 200
    crop = frame[y : y + h, x : x + w]
    assert face.score == pytest.approx(float(det.predict_proba([crop])[0]), rel=1e-5)
    assert blank.score is None and blank.face is None and blank.error == "no face found"


def test_video_without_any_face_is_an_error(tmp_path, det):
    clip = write_video(tmp_path / "clip.avi", count=6, size=(96, 64))
    rec = score_video(clip, det, faces=True, face_finder=FaceFinder())
    assert rec.score is None and rec.error == "no face found in any of the 6 sampled frames"
    assert [f.status for f in rec.frames] == ["no face"] * 6


def test_decoding_runs_in_background_threads(tmp_path, det, monkeypatch):
    paths = [save(tmp_path / f"{i}.png", photo(i)) for i in range(6)]
    threads = set()
    real = imageio.decode_image

    def spy(data, *args, **kwargs):
        threads.add(threading.current_thread().name)
        return real(data, *args, **kwargs)

    monkeypatch.setattr("fakescope.core.imageio.decode_image", spy)
    records = score_paths(paths, det, batch_size=2)
    assert len(records) == 6 and threads and threading.main_thread().name not in threads


def test_stopping_early_releases_the_background_thread(tmp_path, det):
    paths = [save(tmp_path / f"{i}.png", photo(i)) for i in range(40)]
    before = {t.name for t in threading.enumerate()}
    gen = iter_scores(paths, det, batch_size=2)
    first = next(gen)
    gen.close()
    assert first.path == str(paths[0])
    alive = [t for t in threading.enumerate() if t.name not in before and t.name.startswith("fakescope")]
    assert not alive


def test_detector_errors_propagate(tmp_path, det, monkeypatch):
    paths = [save(tmp_path / f"{i}.png", photo(i)) for i in range(3)]

    def broken(images, device="cpu"):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(det, "predict_proba", broken)
    with pytest.raises(RuntimeError, match="model exploded"):
        score_paths(paths, det)


def test_api_rejects_bad_options(tmp_path, det):
    with pytest.raises(ValueError, match="unknown aggregate"):
        score_paths([], det, aggregate="median")
    with pytest.raises(ValueError, match="frames must be at least 1"):
        score_paths([], det, frames=0)


# --- every bad input: a record with an error, the others still scored ----------------------------------------

def png_claiming(width: int, height: int) -> bytes:
    """A PNG header stating ``width`` × ``height`` 8-bit RGB pixels, followed by a little data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4096))) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _bad_inputs(root: Path) -> dict[str, tuple[Path, str]]:
    """name → (path, expected start of its error)."""
    png = io.BytesIO()
    Image.fromarray(photo(3)).save(png, "PNG")
    jpeg = io.BytesIO()
    Image.fromarray(photo(4)).save(jpeg, "JPEG")
    png, jpeg = png.getvalue(), jpeg.getvalue()
    files = {
        "zero-byte.png": b"",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "text.jpg": b"hello, I am text\n" * 20,
        "huge.png": png_claiming(30000, 30000),
    }
    for name, content in files.items():
        (root / name).write_bytes(content)
    (root / "broken-link.png").symlink_to(root / "nowhere.png")
    (root / "loops").mkdir()
    (root / "loops" / "again").symlink_to(root / "loops")  # a folder that contains itself
    dead = write_video(root / "dead.avi", count=10)
    data = dead.read_bytes()
    dead.write_bytes(data[: data.index(b"movi") + 4] + bytes(len(data) - data.index(b"movi") - 4))
    damage_middle(write_video(root / "damaged.avi", count=60))
    (root / "secret.png").write_bytes(png)
    return {
        "zero-byte": (root / "zero-byte.png", "empty file (0 bytes)"),
        "truncated-png": (root / "truncated.png", "corrupt or truncated image"),
        "truncated-jpeg": (root / "truncated.jpg", "corrupt or truncated image"),
        "text-as-jpg": (root / "text.jpg", "not a recognised image format"),
        "huge-png": (root / "huge.png", "image too large"),
        "unreadable": (root / "secret.png", "permission denied"),
        "broken-symlink": (root / "broken-link.png", "broken symbolic link"),
        "symlink-loop": (root / "loops", f"symbolic link loop: leads back to {root / 'loops'}"),
        "dead-video": (root / "dead.avi", "no decodable frames"),
        "damaged-video": (root / "damaged.avi", "decoding stopped after "),
        # a name no file system holds (reachable through `score -`, one path per line of standard input)
        "nul-image": (root / "bad\x00name.png", "not a valid file name (it holds a NUL byte)"),
        "nul-video": (root / "bad\x00name.mp4", "not a valid file name (it holds a NUL byte)"),
    }


def _deny(monkeypatch, victim: Path) -> None:
    """Reading ``victim`` fails as a file without read permission would (tests run as root, where chmod 000
    does not stop reads)."""
    real = Path.read_bytes

    def read_bytes(self):
        if self == victim:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


BAD = ["zero-byte", "truncated-png", "truncated-jpeg", "text-as-jpg", "huge-png", "unreadable", "broken-symlink",
       "symlink-loop", "dead-video", "damaged-video", "nul-image", "nul-video"]


@pytest.mark.parametrize("name", BAD)
def test_each_bad_input_gets_an_error_and_the_rest_are_scored(tmp_path, det, monkeypatch, name):
    root = tmp_path / "in"
    root.mkdir()
    cases = _bad_inputs(root)
    _deny(monkeypatch, root / "secret.png")
    good_before = save(tmp_path / "good1.png", photo(1))
    good_after = save(tmp_path / "good2.png", photo(2))
    path, message = cases[name]
    records = score_paths([good_before, path, good_after], det, frames=8)
    reported = path / "again" if name == "symlink-loop" else path  # a folder given: its loop is reported
    assert [r.path for r in records] == [str(good_before), str(reported), str(good_after)]
    assert records[0].error is None and records[2].error is None
    assert 0 <= records[0].score <= 1 and 0 <= records[2].score <= 1
    bad = records[1]
    assert bad.error.startswith(message) and "\n" not in bad.error
    if name == "damaged-video":  # the frames that decoded are scored; the error says what was lost
        decoded = bad.frames_decoded
        assert 0 < decoded < 60 and bad.frame_count == 60 and bad.score is not None
        assert f"{60 - decoded} frames lost" in bad.error
        lost = [f for f in bad.frames if f.status == "not decoded"]
        assert lost and all(f.index >= decoded and f.score is None for f in lost)
        assert bad.score == pytest.approx(np.mean([f.score for f in bad.frames if f.score is not None]))
    else:
        assert bad.score is None and bad.label is None


def test_a_folder_of_bad_inputs(tmp_path, det, monkeypatch):
    root = tmp_path / "in"
    root.mkdir()
    cases = {k: v for k, v in _bad_inputs(root).items() if not k.startswith("nul-")}  # no such file can exist
    _deny(monkeypatch, root / "secret.png")
    save(root / "good.png", photo(1))
    records = {r.path: r for r in score_paths([root], det, frames=8)}
    assert records[str(root / "good.png")].error is None
    for name, (path, message) in cases.items():
        reported = path / "again" if name == "symlink-loop" else path
        assert records[str(reported)].error.startswith(message)
    assert len(records) == len(cases) + 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(tmp_path, det):
    path = save(tmp_path / "secret.png", photo(0))
    path.chmod(0)
    try:
        assert score_image(path, det).error == "permission denied"
    finally:
        path.chmod(0o644)


def test_input_objects_pass_through(tmp_path, det):
    path = save(tmp_path / "a.png", photo(0))
    rec = score_paths([Input(str(path), "image")], det)[0]
    assert rec.error is None and rec.kind == "image"


def _spy_batches(monkeypatch, det) -> list[int]:
    sizes: list[int] = []
    real = det.predict_proba

    def spy(images, device="cpu"):
        sizes.append(len(images))
        return real(images, device=device)

    monkeypatch.setattr(det, "predict_proba", spy)
    return sizes


def test_pixel_budget_bounds_batches(tmp_path, det, monkeypatch):
    paths = [save(tmp_path / f"{i}.png", photo(i, (64, 64))) for i in range(10)]  # 12,288 bytes each decoded
    sizes = _spy_batches(monkeypatch, det)
    monkeypatch.setattr(decoding.Background, "IDLE_S", 60.0)  # no partial batches for slow decoding
    records = score_paths(paths, det, batch_size=64, max_batch_bytes=50_000)
    assert [r.path for r in records] == [str(p) for p in paths] and all(r.error is None for r in records)
    assert sum(sizes) == 10 and max(sizes) <= 3  # a batch is scored once it holds half the budget


def test_slow_decoding_does_not_hold_back_a_partial_batch(tmp_path, det, monkeypatch):
    paths = [save(tmp_path / f"{i}.png", photo(i)) for i in range(4)]
    real = imageio.decode_image

    def slow(data, *args, **kwargs):
        time.sleep(0.3)
        return real(data, *args, **kwargs)

    monkeypatch.setattr("fakescope.core.imageio.decode_image", slow)
    sizes = _spy_batches(monkeypatch, det)
    records = score_paths(paths, det, batch_size=64, workers=1)
    assert [r.path for r in records] == [str(p) for p in paths]
    assert len(sizes) >= 2  # scored while the rest were still decoding, not in one batch at the end
