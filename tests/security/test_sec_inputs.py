"""Items 5, 6, 7, 9 and 13 of issue 16: what scoring does with hostile or degenerate inputs."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from fakescope.detector.base import load_detector
from fakescope.detector.scoring import collect_inputs, score_paths
from PIL import Image
from sec_helpers import Unblocker, invoke
from skimage import data as skdata

from fakescope.core.imageio import ImageReadError, read_image

POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
              b"newpath 0 0 moveto 16 16 lineto stroke showpage\n%%EOF\n")


@pytest.fixture(scope="module")
def det():
    return load_detector()


def test_postscript_named_png_never_starts_ghostscript(tmp_path, monkeypatch, det):
    """Item 5: Pillow's EPS plugin ran Ghostscript on a ``.png`` holding PostScript."""
    from PIL import EpsImagePlugin

    marker = tmp_path / "gs-ran"
    stub = tmp_path / "bin" / "gs"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None, raising=False)  # look for gs again, on this PATH
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(args)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    for name in ("evil.png", "evil.eps", "evil.ps", "evil.pdf"):
        (tmp_path / name).write_bytes(POSTSCRIPT)
    with pytest.raises(ImageReadError, match="not a recognised image format"):
        read_image(tmp_path / "evil.png")
    records = score_paths([tmp_path / "evil.png", tmp_path / "evil.eps", tmp_path / "evil.ps"], det)
    assert all(r.error and r.score is None for r in records)
    assert not marker.exists() and not started


def test_a_jpeg_whose_header_claims_more_than_its_data_is_reported_as_truncated(tmp_path):
    """Item 9: a header of 7900×7900 over 512×512 data was decoded (grey fill) and scored without an error."""
    buf = io.BytesIO()
    Image.fromarray(cv2.resize(skdata.astronaut(), (512, 512))).save(buf, "JPEG", quality=75)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 7900, 7900)
    path = tmp_path / "claims-more.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(buf.getvalue())
    assert read_image(whole).shape == (512, 512, 3)  # a whole JPEG still reads


def write_avi(path: Path, size=(96, 64), count: int = 3, fourcc: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 5.0, size)
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_a_video_whose_header_states_huge_frames_is_refused_before_decoding(tmp_path, det):
    """Item 7: an MJPG .avi with 16000×16000 frames was decoded (4.3 GB resident): the image pixel limit now
    applies to frames, read from the stream header."""
    data = bytearray(write_avi(tmp_path / "small.avi").read_bytes())
    i = data.index(b"avih")
    data[i + 8 + 32 : i + 8 + 40] = struct.pack("<II", 16000, 16000)
    j = data.index(b"strf")
    data[j + 8 + 4 : j + 8 + 12] = struct.pack("<ii", 16000, 16000)
    (tmp_path / "huge.avi").write_bytes(bytes(data))
    records = score_paths([tmp_path / "huge.avi", tmp_path / "small.avi"], det)
    assert records[0].score is None and "too large" in records[0].error and "16000x16000" in records[0].error
    assert records[1].error is None and records[1].score is not None


def test_an_mp4_whose_header_states_huge_frames_is_refused_before_decoding(tmp_path, det):
    """Item 7 for MP4: the track header and the sample description state the frame size."""
    data = bytearray(write_avi(tmp_path / "small.mp4", fourcc="mp4v").read_bytes())
    i = data.index(b"tkhd")
    offset = 88 if data[i + 4] == 1 else 76
    data[i + 4 + offset : i + 4 + offset + 8] = struct.pack(">II", 16000 << 16, 16000 << 16)
    j = data.index(b"stsd")
    data[j + 4 + 8 + 32 : j + 4 + 8 + 36] = struct.pack(">HH", 16000, 16000)
    (tmp_path / "huge.mp4").write_bytes(bytes(data))
    records = score_paths([tmp_path / "huge.mp4", tmp_path / "small.mp4"], det)
    assert records[0].score is None and "16000x16000" in records[0].error
    assert records[1].error is None and records[1].score is not None


def test_score_output_never_replaces_a_fifo_or_device(tmp_path):
    """Item 6/10: `score -o` onto a FIFO (or /dev/full) would block or replace it; refused before any work."""
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    os.mkfifo(tmp_path / "out.json")
    result = invoke("score", tmp_path / "a.png", "--format", "json", "-o", tmp_path / "out.json")
    assert result.exit_code == 1 and "not a regular file" in result.output
    assert stat.S_ISFIFO(os.stat(tmp_path / "out.json").st_mode)


def test_a_fifo_among_the_inputs_is_reported_without_hanging(tmp_path, det):
    """Item 6: a FIFO reached through a pattern, a folder or `score -` hung (the kind check opened it)."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "a.png")
    os.mkfifo(folder / "pipe")
    os.mkfifo(folder / "pipe.png")
    with Unblocker(folder / "pipe") as w1, Unblocker(folder / "pipe.png") as w2:
        inputs = collect_inputs([str(folder / "*")])
        records = score_paths(inputs, det)
        result = invoke("score", "-", "--format", "json", input=f"{folder / 'pipe'}\n{folder / 'a.png'}\n")
    assert not w1.needed and not w2.needed
    by_path = {r.path: r for r in records}
    assert "FIFO" in by_path[str(folder / "pipe")].error
    assert "FIFO" in by_path[str(folder / "pipe.png")].error
    assert by_path[str(folder / "a.png")].score is not None
    assert result.exit_code == 1
    out = {r["path"]: r for r in json.loads(result.stdout)}
    assert "FIFO" in out[str(folder / "pipe")]["error"] and out[str(folder / "a.png")]["score"] is not None


def test_an_empty_folder_prints_an_empty_json_list(tmp_path):
    """Item 13: an empty folder gave exit 1 and nothing on stdout with --format json."""
    (tmp_path / "empty").mkdir()
    result = invoke("score", tmp_path / "empty", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []
    assert "no images or videos" in result.stderr


def test_an_empty_folder_among_other_inputs_is_named(tmp_path):
    """Item 13: an empty folder among other inputs got no record and no message."""
    (tmp_path / "empty").mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    result = invoke("score", tmp_path / "empty", tmp_path / "a.png", "--format", "json")
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(tmp_path / "a.png")]
    assert f"{tmp_path / 'empty'}: no images or videos" in result.stderr


@pytest.mark.parametrize("name, pixels, note", [
    ("one.png", np.zeros((1, 1, 3), np.uint8), "too small"),
    ("black.png", np.zeros((64, 64, 3), np.uint8), "flat"),
    ("gray.png", np.full((40, 30, 3), 128, np.uint8), "flat"),
    ("small.png", np.random.default_rng(3).integers(0, 255, (63, 200, 3), dtype=np.uint8), "small (200x63 px)"),
])
def test_a_tiny_flat_or_small_image_gets_a_note(tmp_path, det, name, pixels, note):
    """Item 13: a 1×1 image or a flat black frame got a confident "real" with no note; an image under 64 px gets
    one that its score says less, and a 64 px one none."""
    Image.fromarray(pixels).save(tmp_path / name)
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    records = score_paths([tmp_path / name, tmp_path / "ok.png"], det)
    assert note in records[0].note
    assert records[1].note is None and "note" not in records[1].to_json()
    result = invoke("score", tmp_path / name)
    assert note in result.stdout


def test_a_video_of_flat_black_or_small_frames_gets_a_note(tmp_path, det):
    """Item 13 for videos: every scored frame flat (black) is said, not just scored; frames under 64 px get the
    note an image of that size gets."""
    writer = cv2.VideoWriter(str(tmp_path / "black.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 48))
    for _ in range(4):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    for name, (w, h) in (("noise.avi", (96, 64)), ("small.avi", (32, 24))):
        writer = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (w, h))
        for i in range(4):
            writer.write(np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8))
        writer.release()
    records = score_paths([tmp_path / "black.avi", tmp_path / "noise.avi", tmp_path / "small.avi"], det)
    assert records[0].score is not None and "flat" in records[0].note
    assert records[1].note is None and "note" not in records[1].to_json()
    assert records[2].score is not None and "small (32x24 px)" in records[2].note  # as an image of that size
