"""Image reading and writing shared by every layer.

Reading is defensive: whatever a user hands us (truncated files, text named .jpg, decompression bombs,
16-bit, CMYK, palette, EXIF-rotated photos) either becomes an RGB ``uint8`` array or raises
:class:`ImageReadError` with a one-line reason. Writing is atomic: a temporary name, then a rename.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fakescope.core.formats import IMAGE_FORMATS, PNG_TEXT_CHUNKS, jpeg_data_shortfall, strip_png_text
from fakescope.core.safety import UnsafeFileError, check_regular_file, first_line

if TYPE_CHECKING:  # torch loads with the first tensor: listing and hashing files never need it
    import torch

#: Images with more pixels than this are refused before they are decoded (about 8K × 8K).
MAX_PIXELS = 64_000_000
#: Files larger than this are refused before they are read.
MAX_FILE_BYTES = 1 << 30

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp",
                  ".avif", ".jp2", ".j2k", ".ppm", ".pgm", ".pbm", ".pnm", ".pfm", ".ras", ".hdr"}


class ImageReadError(ValueError):
    """An input that could not be turned into an image; the message is one line naming why."""


class WriteError(OSError):
    """A file that could not be written (a full disk, a folder made read-only): ``errno`` and ``strerror`` as the
    system said, ``filename`` the file meant (never a temporary name); one line naming both."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {(self.strerror or 'write failed').lower()}"


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Any OSError raised inside becomes a :class:`WriteError` naming ``path`` (a write that fails deep inside a
    library, a file object's ``write``, says which file it was writing)."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc) or type(exc).__name__, os.fspath(path)) from None


def check_file(path: str | os.PathLike, max_bytes: int | None = MAX_FILE_BYTES) -> None:
    """Refuse what is not a non-empty regular file (missing, broken or looping link, folder, device, too large)."""
    try:
        st = check_regular_file(path, max_bytes)  # stat only: a FIFO or device is never opened
    except UnsafeFileError as exc:
        raise ImageReadError(str(exc)) from None
    if st.st_size == 0:
        raise ImageReadError("empty file (0 bytes)")


def os_reason(exc: OSError) -> str:
    """A failed open or read as a short lower-case reason."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    return (exc.strerror or str(exc) or type(exc).__name__).splitlines()[0].lower()


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into an RGB ``uint8`` array ``[H, W, 3]`` or raise :class:`ImageReadError`.

    The header is read first so that an absurd size is refused before any pixel is decoded. Pillow decodes the
    formats of :data:`~fakescope.core.formats.IMAGE_FORMATS` only (never PostScript or PDF, which it would hand to
    Ghostscript); OpenCV only the formats Pillow lacks (Radiance HDR), after their header is checked. A JPEG whose
    data is too short for the size its header states is refused as truncated (libjpeg would fill in the rest).
    A PNG that Pillow refuses for the sake of a text chunk (compressed text over its 1 MiB limit: browsers show
    such an image) is decoded again without its text chunks, under the same limits: text never hides pixels.
    Whatever the bytes, the only exception that leaves is :class:`ImageReadError`.
    """
    try:
        return _decode(data, max_pixels)
    except ImageReadError:
        if not data.startswith(b"\x89PNG") or not any(kind in data for kind in PNG_TEXT_CHUNKS):
            raise
        stripped = strip_png_text(data)
        if stripped == data:
            raise
    return _decode(stripped, max_pixels)  # refused again: the reason is the pixels', which it then says


def _decode(data: bytes, max_pixels: int) -> np.ndarray:
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
            w, h = im.size
            if w <= 0 or h <= 0:
                raise ImageReadError(f"invalid image size {w}x{h}")
            if w * h > max_pixels:
                raise ImageReadError(f"image too large: {w}x{h} pixels (limit {max_pixels:,})")
            if im.format in ("JPEG", "MPO") and (short := jpeg_data_shortfall(data)):
                raise ImageReadError(f"corrupt or truncated image ({short})")
            im.load()
            return _pil_to_rgb(_upright(im))
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, higher limit, hit while reading the header
        m = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(m.group(1)):,} pixels" if m else "too many pixels"
        raise ImageReadError(f"image too large: {size} (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        arr = _decode_with_opencv(data, max_pixels)
        if arr is not None:
            return arr
        raise ImageReadError("not a recognised image format") from None
    except (OSError, SyntaxError, EOFError, struct.error, zlib.error) as exc:
        raise ImageReadError(f"corrupt or truncated image ({first_line(exc)})") from None
    except MemoryError:
        raise ImageReadError("corrupt image (it asked for more memory than is available)") from None
    except Exception as exc:  # noqa: BLE001 — malformed bytes reach odd corners of the decoders
        raise ImageReadError(f"corrupt image ({type(exc).__name__}: {first_line(exc)})") from None


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 — the pixels decoded fine; only the metadata is broken
        return im


#: The resolution line as OpenCV's reader scans it (``sscanf(line, "-Y %d +X %d")``).
_HDR_SIZE = re.compile(rb"-Y\s*\+?(\d+)\s*\+X\s*\+?(\d+)")


def _hdr_lines(head: bytes) -> Iterator[bytes]:
    """The header as OpenCV's reader sees it: ``fgets`` into a 128-byte buffer, so a longer line comes in pieces of
    127 bytes (and a piece that is only its line's ``\n`` reads as the blank line)."""
    start = 0
    while start < len(head):
        end = head.find(b"\n", start, start + 127)
        stop = start + 127 if end < 0 else end + 1
        yield head[start:stop]
        start = stop


def _hdr_size(head: bytes) -> tuple[int, int] | None:
    """(height, width) from the line after the header's first blank line, read as the decoder reads it."""
    lines = _hdr_lines(head)
    next(lines, None)  # "#?RADIANCE"
    for line in lines:
        if line[:1] in (b"", b"\n"):  # the blank line: the next one holds the size
            m = _HDR_SIZE.match(next(lines, b""))
            return (int(m.group(1)), int(m.group(2))) if m else None
    return None


def _decode_with_opencv(data: bytes, max_pixels: int) -> np.ndarray | None:
    """Radiance HDR (the one format OpenCV reads and Pillow does not), its size checked from the header."""
    if not data.startswith((b"#?RADIANCE", b"#?RGBE")):
        return None
    size = _hdr_size(data[:65536])
    if size is None:  # a size line elsewhere in the header is not the one the decoder uses
        raise ImageReadError("corrupt or unsupported Radiance HDR header (no '-Y H +X W' line after its blank line)")
    h, w = size
    if w * h > max_pixels:
        raise ImageReadError(f"image too large: {w}x{h} pixels (limit {max_pixels:,})")
    try:
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageReadError(f"corrupt Radiance HDR image ({first_line(exc)})") from None
    if arr is None or arr.size == 0 or arr.ndim != 3:
        raise ImageReadError("corrupt Radiance HDR image")
    # linear radiance → display values: clip to [0, 1], sRGB-like gamma 2.2
    arr = (np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0) ** (1 / 2.2) * 255.0).round().astype(np.uint8)
    return cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB)


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB ``uint8``; 16-bit and float modes are rescaled, alpha is dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "F":
        arr = np.nan_to_num(np.asarray(im, dtype=np.float64), posinf=0.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        gray = ((arr - lo) / (hi - lo or 1.0) * 255.0).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("LAB", "HSV"):
        raise ImageReadError(f"unsupported colour mode {im.mode}")
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def read_image_bytes(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[bytes, np.ndarray]:
    """The file's bytes and its pixels (RGB ``uint8`` ``[H, W, 3]``): checked (a regular file of bounded size)
    before it is opened, read once, decoded; or :class:`ImageReadError` with a one-line reason. For callers that
    also hash the bytes or read their metadata."""
    path = Path(path)
    check_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(os_reason(exc)) from None
    return data, decode_image(data, max_pixels)


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB ``uint8`` ``[H, W, 3]`` or raise :class:`ImageReadError` with a one-line reason."""
    return read_image_bytes(path, max_pixels)[1]


# --- tensors -------------------------------------------------------------------------------------------

def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 [H, W, C]`` (or ``[H, W]``) → float tensor ``[C, H, W]`` in [-1, 1]."""
    if image.ndim == 2:
        image = image[..., None]
    import torch

    chw = image.transpose(2, 0, 1).astype(np.float32)  # a new array: a read-only input (a decoded file) is never shared
    return torch.from_numpy(chw).div_(127.5).sub_(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor ``[C, H, W]`` in [-1, 1] → ``uint8 [H, W, C]`` (rounded, clipped)."""
    import torch

    arr = tensor.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return arr.permute(1, 2, 0).numpy()


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize ``uint8 [H, W, C]`` to ``size`` (square int or ``(H, W)``): area filter down, cubic up."""
    h, w = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out[..., None] if out.ndim == 2 else out


def set_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert ``uint8 [H, W, C]`` between gray (1) and RGB (3)."""
    if image.ndim == 2:
        image = image[..., None]
    c = image.shape[2]
    if c == channels:
        return image
    if c == 1 and channels == 3:
        return np.repeat(image, 3, axis=2)
    if c == 3 and channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    raise ValueError(f"cannot convert {c} channels to {channels}")


# --- writing ---------------------------------------------------------------------------------------------

def encode_png(image: np.ndarray) -> bytes:
    """Encode ``uint8 [H, W, C]`` (C = 1 or 3) as PNG bytes. Deterministic for a given array."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode ``uint8 [H, W, C]`` (C = 1 or 3) as JPEG bytes at ``quality`` (1..100). Deterministic."""
    bgr = image[..., ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``. On any failure the
    temporary file is removed and ``path`` is left as it was; a failed write (a full disk) is a
    :class:`WriteError` naming ``path``."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600 files; give them the usual permissions
        os.close(fd)
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary name beside it, then a rename): a kill never leaves a
    partial file. The one atomic write of the project."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_png(path: str | os.PathLike, image: np.ndarray) -> bytes:
    """Write ``image`` as PNG atomically and return the encoded bytes."""
    data = encode_png(image)
    write_bytes_atomic(path, data)
    return data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_grid(path: str | os.PathLike, images: torch.Tensor, nrow: int = 8) -> None:
    """Write a batch ``[N, C, H, W]`` in [-1, 1] as one PNG grid."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=2, pad_value=-1.0)
    write_png(path, to_uint8(grid))
