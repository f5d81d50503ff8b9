"""Provenance evidence: each kind is found in files built here, plain photographs carry none, hostile metadata
gives a finding or a one-line error (never a crash) and the pixels are still scored, the score never changes."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest
from evidence import (
    c2pa_signed,
    evidence_folder,
    jpeg_bytes,
    photo,
    png_bytes,
    skimage_photo,
    watermarked,
    xmp_packet,
)
from fakescope.detector.base import load_detector
from fakescope.detector.provenance import read_provenance, read_watermark, watermark_bits
from fakescope.detector.scoring import score_paths

from fakescope.core.imageio import decode_image

EXPECTED = {  # file → (kind, strength, words in the finding)
    "camera_jpeg": ("exif", "info", "camera claimed: Canon EOS 5D"),
    "a1111_png": ("png-text", "moderate", "PNG parameters chunk"),
    "comfy_png": ("png-text", "moderate", "PNG prompt chunk"),
    "xmp_jpeg": ("xmp", "moderate", "XMP digital source type trainedAlgorithmicMedia"),
    "software_jpeg": ("exif", "moderate", "EXIF Software: Adobe Firefly"),
    "watermark_png": ("watermark", "strong", "invisible watermark of Stable Diffusion (StableDiffusionV1)"),
    "c2pa_png": ("c2pa", "moderate", "C2PA: created by TestDiffusion 1.0 (trainedAlgorithmicMedia)"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return evidence_folder(tmp_path_factory.mktemp("evidence"))


@pytest.fixture(scope="module")
def det():
    return load_detector()


def findings_of(data: bytes):
    return read_provenance(data, decode_image(data))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.needs("invisible-watermark"))
                                  if n == "watermark_png" else n for n in sorted(EXPECTED)])
def test_each_kind_of_evidence_is_found(folder, name):
    kind, strength, words = EXPECTED[name]
    found = findings_of(folder[name].read_bytes())
    assert any(f.kind == kind and f.strength == strength and words in f.found for f in found), found


@pytest.mark.parametrize("name", ["plain_png", "plain_jpeg"])
def test_plain_photographs_carry_no_finding(folder, name):
    assert findings_of(folder[name].read_bytes()) == []


def test_a_photograph_re_encoded_many_ways_carries_no_finding():
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = skimage_photo(name)
        for data in (png_bytes(image), jpeg_bytes(image, quality=75), jpeg_bytes(image[::2, ::2], quality=95)):
            assert findings_of(data) == [], name


def test_c2pa_reports_the_signer_as_untrusted_never_as_proof(folder):
    (f,) = [f for f in findings_of(folder["c2pa_png"].read_bytes()) if f.kind == "c2pa"]
    assert "signer not on a trust list" in f.found and f.strength != "strong"
    assert f.detail["validation_state"] == "Valid" and f.detail["signer"] == "fakescope test signer"
    assert f.detail["actions"] == ["c2pa.created"]


def test_a_c2pa_manifest_of_a_capture_says_nothing_of_synthesis():
    data = c2pa_signed(png_bytes(photo(8)), generator="CameraApp", source_type="digitalCapture")
    (f,) = findings_of(data)
    assert f.strength == "info" and "CameraApp" in f.found and not f.synthetic


def test_altered_pixels_break_the_c2pa_signature():
    image = photo(12)
    signed = c2pa_signed(png_bytes(image))
    start = signed.index(b"caBX") - 4  # the PNG chunk holding the C2PA store, after IHDR
    assert start == 33
    chunk = signed[start:start + 12 + int.from_bytes(signed[start:start + 4], "big")]
    altered = image.copy()
    altered[0, :10] = 255 - altered[0, :10]
    plain = png_bytes(altered)
    tampered = plain[:33] + chunk + plain[33:]  # the same manifest over other pixels
    (f,) = [f for f in findings_of(tampered) if f.kind == "c2pa"]
    assert "fails validation" in f.found and f.strength == "weak", f
    assert f.detail["validation_state"] == "Invalid"


@pytest.mark.needs("invisible-watermark")
def test_watermark_decoder_returns_the_library_bits_exactly():
    from imwatermark import WatermarkDecoder

    for image in (photo(5, (512, 384)), watermarked(photo(5, (512, 384))), skimage_photo("astronaut")):
        lib = WatermarkDecoder("bytes", 136).decode(np.ascontiguousarray(image[..., ::-1]), "dwtDct")
        assert (np.packbits(watermark_bits(image, 136)).tobytes() == lib)


@pytest.mark.needs("invisible-watermark")
def test_the_watermark_is_found_only_where_it_was_embedded():
    image = photo(11, (512, 512))
    assert read_watermark(image) == []
    assert [f.detail["message"] for f in read_watermark(watermarked(image))] == [
        "Stable Diffusion (StableDiffusionV1)"]
    assert read_watermark(watermarked(image, b"SomethingElse1234")) == []


def test_haar_band_equals_pywavelets_bit_for_bit():
    import pywt
    from fakescope.detector.provenance import haar_approximation

    rng = np.random.default_rng(0)
    for shape in ((8, 8), (64, 96), (408, 512), (36, 20)):
        channel = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(haar_approximation(channel), pywt.dwt2(channel, "haar")[0]), shape


@pytest.mark.needs("invisible-watermark")
@pytest.mark.parametrize(("quality", "subsampling", "kept"), [(95, 0, True), (98, 1, True), (90, 2, False),
                                                              (75, 0, False)])
def test_the_watermark_is_looked_for_only_in_jpegs_that_can_keep_it(quality, subsampling, kept):
    """Chroma subsampling (the common 4:2:0) or coarse chroma quantisation erases the DWT-DCT watermark, and the
    library's own decoder agrees: there the check is skipped; where it survives it is still found."""
    import io

    from fakescope.detector.provenance import may_keep_watermark
    from imwatermark import WatermarkDecoder
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(watermarked(skimage_photo("astronaut"))).save(buf, "JPEG", quality=quality,
                                                                  subsampling=subsampling)
    data = buf.getvalue()
    assert may_keep_watermark(data) is kept
    pixels = decode_image(data)
    lib = WatermarkDecoder("bytes", 136).decode(np.ascontiguousarray(pixels[..., ::-1]), "dwtDct")
    message = np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8))
    survived = bool((np.unpackbits(np.frombuffer(lib, np.uint8)) == message).mean() >= 0.9)
    assert survived == kept  # skipped exactly where the library cannot read it either
    assert any(f.kind == "watermark" for f in findings_of(data)) is kept


def test_metadata_is_read_without_decoding_pixels_unless_a_chunk_follows_them(folder, monkeypatch):
    from fakescope.detector.provenance import has_metadata, read_metadata
    from PIL import PngImagePlugin

    loads = []
    real_load = PngImagePlugin.PngImageFile.load
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: loads.append(1) or real_load(self))
    assert not has_metadata(folder["plain_png"].read_bytes()) and not has_metadata(folder["plain_jpeg"].read_bytes())
    assert read_metadata(folder["plain_png"].read_bytes()) == []
    data = folder["a1111_png"].read_bytes()  # text chunk before the pixels
    assert [f.found for f in read_metadata(data)] == ["PNG parameters chunk"] and loads == []
    plain = folder["plain_png"].read_bytes()  # a parameters chunk written after the pixels is still found
    late = _chunk(b"tEXt", b"parameters\x00a cat\nSteps: 20, Sampler: Euler a")
    assert [f.found for f in read_metadata(plain[:-12] + late + plain[-12:])] == ["PNG parameters chunk"]
    assert loads  # the pixels were decoded to reach it


def _chunk(kind: bytes, body: bytes) -> bytes:
    import zlib

    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


HOSTILE = {
    "truncated XMP": lambda: jpeg_bytes(photo(1), xmp=xmp_packet()[:150]),
    "huge text chunk": lambda: png_bytes(photo(2), {"parameters": "x" * (3 << 20)}),
    "huge comment": lambda: png_bytes(photo(2), {"Comment": "y" * (5 << 20), "Software": "z" * 10_000}),
    "manifest that does not parse": lambda: _corrupt_c2pa(c2pa_signed(png_bytes(photo(3)))),
    "C2PA store pointing outside the file": lambda: c2pa_signed(png_bytes(photo(4)),
                                                                remote_url="https://example.invalid/m.c2pa"),
    "malformed EXIF": lambda: jpeg_bytes(photo(5)).replace(b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM"
                                                           b"\x00*\x00\x00\xff\xff", 1),
    "JUMBF label only": lambda: png_bytes(photo(6), {"c2pa": "c2pa" * 10}),
}


def _corrupt_c2pa(data: bytes) -> bytes:
    """Scramble the middle of the C2PA store (the PNG chunk stays well formed: its CRC is recomputed)."""
    import zlib

    start = data.index(b"caBX") - 4
    length = int.from_bytes(data[start:start + 4], "big")
    body = bytearray(data[start + 8:start + 8 + length])
    body[40:440] = bytes(b ^ 0x5A for b in body[40:440])
    crc = zlib.crc32(b"caBX" + bytes(body)).to_bytes(4, "big")
    return data[:start + 8] + bytes(body) + crc + data[start + 12 + length:]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_metadata_gives_a_finding_or_a_line_and_the_pixels_are_still_scored(tmp_path, det, case):
    data = HOSTILE[case]()
    findings = read_provenance(data, None)  # never raises
    assert all("\n" not in f.found and len(f.found) < 400 for f in findings)
    if case == "C2PA store pointing outside the file":
        assert [f.found for f in findings] == ["C2PA manifest stored outside the file (not fetched)"]
    if case == "truncated XMP":
        assert any(f.strength == "error" and "XMP" in f.found for f in findings)
    path = tmp_path / ("x.jpg" if data.startswith(b"\xff\xd8") else "x.png")
    path.write_bytes(data)
    (rec,) = score_paths([path], det)
    assert rec.error is None and rec.score is not None and rec.provenance is not None
    json.dumps(rec.to_json())


def test_evidence_never_changes_the_score(folder, det):
    paths = sorted(folder.values())
    with_evidence = score_paths(paths, det, provenance=True)
    without = score_paths(paths, det, provenance=False)
    assert [r.score for r in with_evidence] == [r.score for r in without]
    assert all(r.provenance is None for r in without) and all(r.provenance is not None for r in with_evidence)
    assert "provenance" not in without[0].to_json()


def test_flagged_by_says_why_in_words(folder, det):
    (rec,) = score_paths([folder["a1111_png"]], det, threshold=0.0)
    assert rec.flagged_by() == ["PNG parameters chunk", f"detector {rec.score:.2f}"]
    (rec,) = score_paths([folder["camera_jpeg"]], det, threshold=1.0)
    assert rec.flagged_by() == [] and rec.score is not None  # a camera claim is scored all the same


def test_exactly_one_distribution_provides_cv2():
    providers = set()
    for dist in importlib.metadata.distributions():
        files = dist.files or []
        if any(str(f).split("/")[0] == "cv2" for f in files):
            providers.add(dist.metadata["Name"])
    assert providers == {"opencv-python-headless"}, providers
    assert importlib.metadata.version("invisible-watermark")


def test_xmp_values_are_decoded_then_escaped_where_shown(tmp_path):
    """Issue 31, item 20: XMP entities and character references are decoded (a generator named behind them is
    found), and every output escapes what they decode to: HTML in the report, control characters in the table."""
    from typer.testing import CliRunner

    from fakescope.cli import app

    tool = "&lt;script&gt;alert(1)&lt;/script&gt; Midjourney &#x1b;[2J"
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_bytes(photo(2), xmp=xmp_packet("digitalCapture", creator_tool=tool)))
    (tool_finding,) = [f for f in read_provenance(path.read_bytes(), None) if "CreatorTool" in f.found]
    assert tool_finding.detail["software"] == "<script>alert(1)</script> Midjourney \x1b[2J"
    assert tool_finding.strength == "moderate"  # the generator's name, found once decoded
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(path), "--device", "cpu", "--report", str(tmp_path / "r")],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "Midjourney" in result.stdout
    page = (tmp_path / "r" / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Midjourney" in page and "<script>alert" not in page
