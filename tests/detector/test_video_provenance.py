"""Provenance evidence of video files: C2PA manifests of MP4, MOV and AVI files, XMP and the encoding tool; the
frames are scored all the same, hostile metadata is a one-line finding, and the evidence never changes the
score."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from evidence import c2pa_signed, xmp_packet
from fakescope.detector.base import load_detector
from fakescope.detector.provenance import read_video_provenance
from fakescope.detector.scoring import score_video

FORMATS = {"mp4": ("mp4v", "video/mp4"), "mov": ("mp4v", "video/quicktime"), "avi": ("MJPG", "video/x-msvideo")}


@pytest.fixture(scope="module")
def det():
    return load_detector()


def video_bytes(tmp_path: Path, ext: str, count: int = 6) -> bytes:
    """A small video OpenCV writes (its MP4 and MOV name ffmpeg's muxer as their encoding tool)."""
    path = tmp_path / f"plain.{ext}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FORMATS[ext][0]), 5.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path.read_bytes()


def box(kind: bytes, body: bytes) -> bytes:
    """One ISO-BMFF box: 32-bit size, four-character type, body."""
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def scored(tmp_path: Path, det, name: str, data: bytes, **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    rec = score_video(path, det, frames=4, **kwargs)
    assert rec.error is None and rec.score is not None and len(rec.frames) == 4, rec
    json.dumps(rec.to_json())
    return rec


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_a_signed_video_carries_its_c2pa_manifest(tmp_path, det, ext):
    signed = c2pa_signed(video_bytes(tmp_path, ext), FORMATS[ext][1], generator="TestVideoGen")
    rec = scored(tmp_path, det, f"signed.{ext}", signed)
    (c2pa,) = [f for f in rec.provenance if f.kind == "c2pa"]
    assert c2pa.strength == "moderate" and c2pa.found.startswith("C2PA: created by TestVideoGen 1.0")
    assert "signer not on a trust list" in c2pa.found and c2pa.detail["validation_state"] == "Valid"


def test_xmp_and_the_encoding_tool_of_a_video(tmp_path, det):
    plain = video_bytes(tmp_path, "mp4")
    rec = scored(tmp_path, det, "plain.mp4", plain)
    assert [(f.kind, f.strength) for f in rec.provenance] == [("metadata", "info")]
    assert rec.provenance[0].found.startswith("encoding tool: Lavf")
    xmp = plain + box(b"uuid", bytes(16) + xmp_packet("trainedAlgorithmicMedia", creator_tool="Runway Gen-3"))
    found = {(f.kind, f.strength, f.found) for f in scored(tmp_path, det, "xmp.mp4", xmp).provenance}
    assert ("xmp", "moderate", "XMP digital source type trainedAlgorithmicMedia") in found
    assert ("xmp", "moderate", "XMP CreatorTool: Runway Gen-3 (a generator)") in found


def test_hostile_video_metadata_is_a_finding_and_the_frames_are_still_scored(tmp_path, det):
    plain = video_bytes(tmp_path, "mp4")
    truncated = plain + box(b"uuid", bytes(16) + xmp_packet()[:200])
    rec = scored(tmp_path, det, "truncated.mp4", truncated)
    assert any(f.kind == "xmp" and f.strength == "error" for f in rec.provenance), rec.provenance
    # the muxer's own tool renamed away, and an encoding-tool item whose size points past the file
    absurd = plain.replace(b"\xa9too", b"\xa9tox", 1) + box(b"udta", b"\xa9too" + (2**31).to_bytes(4, "big")
                                                            + b"data" + bytes(8) + b"x")
    rec = scored(tmp_path, det, "absurd.mp4", absurd)
    assert not any(f.found.startswith("encoding tool") for f in rec.provenance), rec.provenance
    signed = bytearray(c2pa_signed(plain, "video/mp4"))
    store = signed.index(b"c2pa")
    signed[store + 200:store + 600] = bytes(b ^ 0x5A for b in signed[store + 200:store + 600])
    rec = scored(tmp_path, det, "broken.mp4", bytes(signed))
    (c2pa,) = [f for f in rec.provenance if f.kind == "c2pa"]
    assert c2pa.strength in ("error", "weak", "info") and "\n" not in c2pa.found and len(c2pa.found) < 400, c2pa
    assert read_video_provenance(str(tmp_path / "missing.mp4"))[0].strength == "error"
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert read_video_provenance(str(tmp_path / "empty.mp4")) == []


def test_only_the_metadata_boxes_are_read(tmp_path):
    """Frames (``mdat``) are never searched: a packet among them is not found; an XMP packet whose end lies past
    what a packet may span is truncated; containers the C2PA reader does not take give nothing, not an error."""
    plain = video_bytes(tmp_path, "mp4")
    (tmp_path / "in-frames.mp4").write_bytes(plain + box(b"mdat", xmp_packet()))
    assert [f.kind for f in read_video_provenance(str(tmp_path / "in-frames.mp4"))] == ["metadata"]
    far = xmp_packet().replace(b"</x:xmpmeta>", b" " * (1 << 20) + b"</x:xmpmeta>")
    (tmp_path / "far.mp4").write_bytes(plain + box(b"uuid", bytes(16) + far))
    found = read_video_provenance(str(tmp_path / "far.mp4"))
    assert [(f.kind, f.strength) for f in found if f.kind == "xmp"] == [("xmp", "error")]
    many = plain + box(b"uuid", bytes(8)) * 10_000 + box(b"uuid", bytes(16) + xmp_packet())  # walked 10,000 at most
    (tmp_path / "many.mp4").write_bytes(many)
    assert not any(f.kind == "xmp" for f in read_video_provenance(str(tmp_path / "many.mp4")))
    avi = video_bytes(tmp_path, "avi")  # OpenDML: frames go on in further RIFF chunks, never read
    riff = b"RIFF" + (4 + len(xmp_packet()) + 8).to_bytes(4, "little") + b"AVIX" + b"JUNK"
    (tmp_path / "avix.avi").write_bytes(avi + riff + len(xmp_packet()).to_bytes(4, "little") + xmp_packet())
    assert not any(f.kind == "xmp" for f in read_video_provenance(str(tmp_path / "avix.avi")))
    old_mov = plain[plain.index(b"moov") - 4:]  # a QuickTime file without ftyp, starting at its moov
    (tmp_path / "old.mov").write_bytes(old_mov)
    assert [f.found[:18] for f in read_video_provenance(str(tmp_path / "old.mov"))] == ["encoding tool: Lav"]
    mkv = b"\x1a\x45\xdf\xa3" + bytes(60) + b"c2pa" + xmp_packet()
    (tmp_path / "x.mkv").write_bytes(mkv)
    assert read_video_provenance(str(tmp_path / "x.mkv")) == []


def test_video_evidence_never_changes_the_score_and_can_be_skipped(tmp_path, det):
    signed = c2pa_signed(video_bytes(tmp_path, "avi"), "video/x-msvideo")
    with_evidence = scored(tmp_path, det, "s.avi", signed)
    without = scored(tmp_path, det, "s.avi", signed, provenance=False)
    assert with_evidence.score == without.score and without.provenance is None
    assert with_evidence.flagged_by(1.0)[:1] == ["C2PA: created by TestDiffusion 1.0 (trainedAlgorithmicMedia); "
                                                 "signer not on a trust list"]
