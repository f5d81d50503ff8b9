"""The defensive image reader: every colour layout converts the same way, every bad input is a one-line error."""

from __future__ import annotations

import io
import os
import resource
import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skdata

from fakescope.core.imageio import ImageReadError, decode_image, read_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 48×64 RGB photograph: not symmetric, so a wrong rotation or channel order shows."""
    return cv2.resize(skdata.astronaut(), (64, 48), interpolation=cv2.INTER_AREA)


def _pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _gray(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint8)


# --- colour layouts ----------------------------------------------------------------------------------------

def _layouts(rgb: np.ndarray) -> dict[str, tuple[bytes, np.ndarray, float]]:
    """name → (encoded bytes, expected RGB, tolerated mean absolute error)."""
    gray = _gray(rgb)
    gray3 = np.repeat(gray[..., None], 3, axis=2)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    rgba = np.dstack([rgb, np.linspace(0, 255, rgb.shape[1], dtype=np.uint8)[None].repeat(rgb.shape[0], 0)])
    pal = Image.fromarray(rgb).quantize(64)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    return {
        "rgb-png": (_pil_bytes(Image.fromarray(rgb), "PNG"), rgb, 0.0),
        "gray-png": (_pil_bytes(Image.fromarray(gray), "PNG"), gray3, 0.0),
        "gray-alpha-png": (_pil_bytes(Image.fromarray(gray).convert("LA"), "PNG"), gray3, 0.0),
        "rgba-png": (_pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), rgb, 0.0),
        "rgb16-png": (cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes(), rgb, 0.0),
        "gray16-png": (cv2.imencode(".png", gray.astype(np.uint16) * 257)[1].tobytes(), gray3, 0.0),
        "gray16-tiff": (cv2.imencode(".tiff", gray.astype(np.uint16) * 257)[1].tobytes(), gray3, 0.0),
        "palette-png": (_pil_bytes(pal, "PNG"), np.asarray(pal.convert("RGB")), 0.0),
        "palette-transparent-png": (_pil_bytes(pal_t, "PNG", transparency=0), np.asarray(pal.convert("RGB")), 0.0),
        "palette-gif": (_pil_bytes(pal, "GIF"), np.asarray(pal.convert("RGB")), 0.0),
        "cmyk-tiff": (_pil_bytes(Image.fromarray(rgb).convert("CMYK"), "TIFF"), rgb, 0.0),
        "cmyk-jpeg": (_pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95, subsampling=0), rgb, 3.0),
        "rgb-jpeg": (_pil_bytes(Image.fromarray(rgb), "JPEG", quality=95, subsampling=0), rgb, 3.0),
        "bilevel-png": (_pil_bytes(Image.fromarray(gray).convert("1", dither=Image.Dither.NONE), "PNG"),
                        np.repeat(np.where(gray >= 128, 255, 0).astype(np.uint8)[..., None], 3, axis=2), 0.0),
        "webp-lossless": (_pil_bytes(Image.fromarray(rgb), "WEBP", lossless=True), rgb, 0.0),
        "bmp": (cv2.imencode(".bmp", bgr)[1].tobytes(), rgb, 0.0),
        "ppm": (cv2.imencode(".ppm", bgr)[1].tobytes(), rgb, 0.0),
    }


LAYOUTS = list(_layouts(np.zeros((4, 4, 3), np.uint8)))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_as_rgb_uint8(photo, layout):
    encoded, expected, tolerance = _layouts(photo)[layout]
    image = decode_image(encoded)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3) and image.flags.c_contiguous
    assert np.abs(image.astype(int) - expected.astype(int)).mean() <= tolerance


def test_exif_rotated_jpeg_reads_upright(photo, tmp_path):
    # Orientation 6: the stored pixels must be turned 90° clockwise to be seen upright.
    stored = np.ascontiguousarray(np.rot90(photo, 1))  # [64, 48, 3], turned counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_pil_bytes(Image.fromarray(stored), "JPEG", quality=95, subsampling=0, exif=exif.tobytes()))
    image = read_image(path)
    assert image.shape == photo.shape
    with Image.open(path) as raw:  # the pixels as stored, orientation ignored
        assert np.array_equal(image, np.rot90(np.asarray(raw.convert("RGB")), -1))
    assert np.abs(image.astype(int) - photo.astype(int)).mean() < 3
    assert np.abs(np.rot90(image, 2).astype(int) - photo.astype(int)).mean() > 20  # upside down would show


def test_radiance_hdr_reads_through_opencv(photo):
    radiance = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR).astype(np.float32) / 255.0
    image = decode_image(cv2.imencode(".hdr", radiance)[1].tobytes())
    assert image.shape == photo.shape and image.dtype == np.uint8
    # gamma-encoded display values: dark stays dark, bright stays bright
    assert np.corrcoef(image.ravel(), photo.ravel())[0, 1] > 0.95


def test_radiance_hdr_size_is_read_where_the_decoder_reads_it():
    data = cv2.imencode(".hdr", np.random.default_rng(0).random((64, 64, 3), dtype=np.float32))[1].tobytes()
    with pytest.raises(ImageReadError, match="too large: 64x64"):
        decode_image(data, max_pixels=100)
    # a small size line earlier in the header must not hide the real one, which OpenCV decodes
    blank = data.index(b"\n\n")
    decoy = data[:blank] + b"\n-Y 2 +X 2" + data[blank:]
    assert cv2.imdecode(np.frombuffer(decoy, np.uint8), cv2.IMREAD_UNCHANGED).shape == (64, 64, 3)
    with pytest.raises(ImageReadError, match="too large: 64x64"):
        decode_image(decoy, max_pixels=100)
    with pytest.raises(ImageReadError, match="Radiance HDR header"):
        decode_image(data[:blank] + b"\n\n+X 64 -Y 64\n" + data[data.index(b"\n", blank + 2) + 1:])
    # the decoder reads lines into 128 bytes: a 128-byte line ends in a piece that reads as the blank line, and a
    # decoy "blank line + size" in the pixels after it must not be taken instead
    pixels = bytearray(np.random.default_rng(1).integers(1, 200, 64 * 64 * 4, dtype=np.uint8).tobytes())
    pixels[:4] = b"\x10\x10\x10\x80"  # flat (not run-length) pixels, which the decoy sits inside
    pixels[400:411] = b"\n\n-Y 2 +X 2\n"
    tricky = (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n" + b"#" + b"A" * 126 + b"\n" + b"-Y 64 +X 64\n"
              + bytes(pixels))
    assert cv2.imdecode(np.frombuffer(tricky, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (64, 64)
    with pytest.raises(ImageReadError, match="too large: 64x64"):
        decode_image(tricky, max_pixels=100)


# --- bad inputs --------------------------------------------------------------------------------------------

def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


@pytest.fixture
def bad_files(tmp_path, photo) -> dict[str, Path]:
    png = _pil_bytes(Image.fromarray(photo), "PNG")
    jpeg = _pil_bytes(Image.fromarray(photo), "JPEG", quality=90)
    files = {
        "zero-byte": b"",
        "truncated-png": png[: len(png) // 2],
        "truncated-jpeg": jpeg[: len(jpeg) // 2],
        "text-named-jpg": b"this is not an image, just some text\n" * 10,
        "bomb-png": _png_claiming(30000, 30000),
    }
    suffix = {"truncated-png": ".png", "bomb-png": ".png"}
    paths = {}
    for name, content in files.items():
        path = tmp_path / f"{name}{suffix.get(name, '.jpg')}"
        path.write_bytes(content)
        paths[name] = path
    paths["missing"] = tmp_path / "missing.png"
    paths["broken-symlink"] = tmp_path / "broken.png"
    paths["broken-symlink"].symlink_to(tmp_path / "nowhere.png")
    paths["symlink-loop"] = tmp_path / "loop.png"
    paths["symlink-loop"].symlink_to("loop.png")
    paths["directory"] = tmp_path / "folder.png"
    paths["directory"].mkdir()
    paths["fifo"] = tmp_path / "pipe.png"
    os.mkfifo(paths["fifo"])
    return paths


EXPECTED_ERRORS = {
    "zero-byte": "empty file (0 bytes)",
    "truncated-png": "corrupt or truncated image",
    "truncated-jpeg": "corrupt or truncated image",
    "text-named-jpg": "not a recognised image format",
    "bomb-png": "image too large: 900,000,000 pixels",
    "missing": "no such file",
    "broken-symlink": "broken symbolic link",
    "symlink-loop": "symbolic link loop",
    "directory": "is a directory",
    "fifo": "not a regular file",
}


@pytest.mark.parametrize("name", list(EXPECTED_ERRORS))
def test_bad_input_is_a_one_line_error(bad_files, name):
    with pytest.raises(ImageReadError) as info:
        read_image(bad_files[name])
    message = str(info.value)
    assert message.startswith(EXPECTED_ERRORS[name])
    assert "\n" not in message


def test_bomb_is_refused_before_decoding(bad_files):
    data = bad_files["bomb-png"].read_bytes()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match="too large"):
            decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # decoding would need 2.7 GB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 256 << 10


def test_limit_is_checked_on_the_header():
    with pytest.raises(ImageReadError, match="^image too large: 9000x8000 pixels"):  # under Pillow's own limit
        decode_image(_png_claiming(9000, 8000))
    with pytest.raises(ImageReadError, match="^image too large: 64x48 pixels"):
        decode_image(_png_claiming(64, 48), max_pixels=1000)


def test_permission_denied_is_reported(tmp_path, photo, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(_pil_bytes(Image.fromarray(photo), "PNG"))

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # tests run as root, where chmod 000 does not stop reads
    with pytest.raises(ImageReadError, match="^permission denied$"):
        read_image(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_mode(tmp_path, photo):
    path = tmp_path / "secret.png"
    path.write_bytes(_pil_bytes(Image.fromarray(photo), "PNG"))
    path.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="^permission denied$"):
            read_image(path)
    finally:
        path.chmod(0o644)


# --- property: no bytes make the reader raise anything but ImageReadError -----------------------------------

def _seeds() -> list[bytes]:
    rgb = cv2.resize(skdata.astronaut(), (24, 16), interpolation=cv2.INTER_AREA)
    im = Image.fromarray(rgb)
    return [
        _pil_bytes(im, "PNG"), _pil_bytes(im, "JPEG", quality=80), _pil_bytes(im.quantize(16), "GIF"),
        _pil_bytes(im, "TIFF"), _pil_bytes(im, "WEBP"), _pil_bytes(im, "BMP"), _pil_bytes(im, "PPM"),
        _pil_bytes(im.convert("CMYK"), "JPEG"), _pil_bytes(im, "JPEG2000"),
        cv2.imencode(".hdr", rgb.astype(np.float32) / 255)[1].tobytes(),
    ]


SEEDS = _seeds()


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


def _check_never_crashes(data: bytes) -> None:
    try:
        image = decode_image(data, max_pixels=1_000_000)
    except ImageReadError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # Pillow's notes on damaged files
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_mutated_images_never_crash_the_reader(data):
    _check_never_crashes(data)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # Pillow's notes on damaged files
@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_reader(data):
    _check_never_crashes(data)
