"""Image reading and writing shared by every layer.

Reading is defensive: whatever a user hands us (truncated files, text named .jpg, decompression bombs,
16-bit, CMYK, palette, EXIF-rotated photos) either becomes an RGB ``uint8`` array or raises
:class:`ImageReadError` with a one-line reason. Writing is atomic: a temporary name, then a rename.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

#: Images with more pixels than this are refused before they are decoded (about 8K × 8K).
MAX_PIXELS = 64_000_000

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}


class ImageReadError(ValueError):
    """An input that could not be turned into an image; the message is one line naming why."""


def _check_file(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise ImageReadError("broken symbolic link")
    if not path.exists():
        raise ImageReadError("no such file")
    if path.is_dir():
        raise ImageReadError("is a directory")
    if not os.access(path, os.R_OK):
        raise ImageReadError("permission denied")
    if path.stat().st_size == 0:
        raise ImageReadError("empty file (0 bytes)")


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into an RGB ``uint8`` array ``[H, W, 3]``.

    The header is read first so that an absurd size is refused before any pixel is decoded.
    """
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise ImageReadError(f"invalid image size {w}x{h}")
                if w * h > max_pixels:
                    raise ImageReadError(f"image too large: {w}x{h} pixels (limit {max_pixels:,})")
                im.load()
                im = ImageOps.exif_transpose(im)
                return _pil_to_rgb(im)
    except ImageReadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow does not know the format: give OpenCV a chance before calling it a non-image.
        arr = _decode_with_opencv(data, max_pixels)
        if arr is not None:
            return arr
        if isinstance(exc, UnidentifiedImageError):
            raise ImageReadError("not a recognised image format") from None
        raise ImageReadError(f"image too large: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, struct.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(f"corrupt or truncated image ({reason})") from None


def _decode_with_opencv(data: bytes, max_pixels: int) -> np.ndarray | None:
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if arr is None or arr.size == 0:
        return None
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise ImageReadError(f"image too large: {arr.shape[1]}x{arr.shape[0]} pixels")
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float64) / np.iinfo(arr.dtype).max * 255).round().astype(np.uint8)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB ``uint8``; 16-bit and float modes are rescaled, alpha is dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        gray = ((arr - lo) / (hi - lo or 1.0) * 255.0).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB ``uint8`` ``[H, W, 3]`` or raise :class:`ImageReadError`."""
    path = Path(path)
    try:
        _check_file(path)
        data = path.read_bytes()
    except ImageReadError:
        raise
    except OSError as exc:
        raise ImageReadError(exc.strerror or str(exc)) from None
    return decode_image(data, max_pixels)


# --- tensors -------------------------------------------------------------------------------------------

def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 [H, W, C]`` (or ``[H, W]``) → float tensor ``[C, H, W]`` in [-1, 1]."""
    if image.ndim == 2:
        image = image[..., None]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(127.5).sub(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor ``[C, H, W]`` in [-1, 1] → ``uint8 [H, W, C]`` (rounded, clipped)."""
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


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``."""
    path = Path(path)
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
