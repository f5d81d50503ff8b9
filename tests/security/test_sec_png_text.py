"""Issue 31, item 3: a valid PNG with a text chunk Pillow refuses (about 2 KB of zTXt inflating past its 1 MiB
limit) was reported "corrupt image" and never scored: any fake could dodge the detector so. The pixels are
scored, within the same limits, and the chunk is reported as provenance evidence."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke

from fakescope.core.imageio import ImageReadError, decode_image


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with(*chunks: bytes, size: int = 16) -> tuple[bytes, np.ndarray]:
    """A PNG with ``chunks`` inserted after its header, and its pixels."""
    pixels = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    data = buf.getvalue()
    return data[:33] + b"".join(chunks) + data[33:], pixels  # 33: the signature and IHDR


BOMB = zlib.compress(b"\0" * (2 << 20), 9)  # about 2 KB inflating to 2 MiB


@pytest.mark.parametrize("text", [
    chunk(b"zTXt", b"parameters\0\0" + BOMB),
    chunk(b"zTXt", b"comment\0\0" + BOMB),
    chunk(b"iTXt", b"Description\0\1\0en\0\0" + BOMB),  # compressed international text
])
def test_a_png_with_an_oversized_text_chunk_is_decoded_and_reported(text):
    from fakescope.detector.provenance import read_provenance

    assert len(text) < 2500
    data, pixels = png_with(text, chunk(b"tEXt", b"Software\0Stable Diffusion"))
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):  # what Pillow itself does with it
        Image.open(io.BytesIO(data)).load()
    assert np.array_equal(decode_image(data), pixels)
    findings = read_provenance(data, pixels)
    oversized = [f for f in findings if f.detail and f.detail.get("oversized")]
    assert len(oversized) == 1 and "too large to read" in oversized[0].found
    assert oversized[0].strength == ("moderate" if b"parameters" in text else "weak")
    assert any("Stable Diffusion" in f.found for f in findings)  # the other chunks are still read


def test_the_pixel_limit_still_holds_without_the_text():
    data, _ = png_with(chunk(b"zTXt", b"parameters\0\0" + BOMB))
    huge = data[:16] + struct.pack(">II", 20_000, 20_000) + data[24:29]
    huge += struct.pack(">I", zlib.crc32(huge[12:29]) & 0xFFFFFFFF) + data[33:]
    with pytest.raises(ImageReadError, match="image too large"):
        decode_image(huge)


@pytest.mark.parametrize("provenance", ["--provenance", "--no-provenance"])
def test_score_scores_the_pixels_and_names_the_chunk(tmp_path, provenance):
    data, _ = png_with(chunk(b"zTXt", b"parameters\0\0" + BOMB))
    (tmp_path / "dodge.png").write_bytes(data)
    result = invoke("score", tmp_path / "dodge.png", "-f", "json", provenance, "--device", "cpu")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["error"] is None and record["score"] is not None
    if provenance == "--provenance":
        assert any("too large to read" in f["found"] for f in record["provenance"])
