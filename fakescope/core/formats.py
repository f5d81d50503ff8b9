"""Which file formats are decoded, and what their headers must promise before any pixel is decoded.

- :data:`IMAGE_FORMATS`: the Pillow plugins images are opened with (``Image.open(..., formats=IMAGE_FORMATS)``).
  An explicit allowlist: never EPS, PS or PDF (Pillow hands those to Ghostscript, an external program) nor any
  other plugin nobody asked for. A file is recognised by its bytes, not its name, so a ``.png`` holding
  PostScript is refused as not an image.
- :func:`jpeg_data_shortfall`: a JPEG whose header promises more 8×8 blocks than its compressed data could hold
  (a 7900×7900 header over 512×512 data); libjpeg would fill the rest with grey and say nothing.
- :func:`png_text_problems`, :func:`strip_png_text`: the text chunks of a PNG that Pillow refuses (compressed text
  over its 1 MiB limit, an unknown compression method), and the same PNG without its text chunks, so that a
  hostile text chunk never hides the pixels from the detector.
- :func:`video_frame_size`: the frame size an AVI or MP4/MOV container states, read from its header before any
  frame is decoded (None when the container is another or does not say).
- :func:`content_format`, :func:`content_kind`, :func:`head_of`: what a file is by its first bytes (an image
  format's signature, a video container's), the one rule by which files are images or videos whatever their names.

Nothing here imports anything else of fakescope.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Collection

#: Pillow format names images may be decoded with (the formats the README promises; JPEG includes MPO).
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "AVIF", "TIFF", "GIF", "BMP", "DIB", "JPEG2000", "PPM", "SUN")

#: Never decoded, whatever a file claims to be: Pillow runs Ghostscript on these.
FORBIDDEN_FORMATS = ("EPS", "PS", "PDF")

assert not set(IMAGE_FORMATS) & set(FORBIDDEN_FORMATS)

# --- what a file is by its first bytes -----------------------------------------------------------------------

#: Bytes read from the start of a file to tell what it is.
HEAD_BYTES = 16
#: Signatures of image formats read here, by format name (as a file suffix would say it).
_IMAGE_SIGNATURES = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF87a": "gif", b"GIF89a": "gif",
                     b"BM": "bmp", b"II*\x00": "tiff", b"MM\x00*": "tiff", b"#?RADIANCE": "hdr", b"#?RGBE": "hdr",
                     b"\x00\x00\x00\x0cjP  \r\n\x87\n": "jp2", b"\xff\x4f\xff\x51": "j2k"}
#: ISO-BMFF brands of still images (AVIF, HEIF): the container of MP4 and MOV, holding an image.
_IMAGE_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heic", b"msf1": "heic"}


def content_format(head: bytes) -> str | None:
    """The image format a file's first bytes announce (``png``, ``jpeg``, ``webp``, ...), or None."""
    for signature, name in _IMAGE_SIGNATURES.items():
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return _IMAGE_BRANDS[head[8:12]]
    return None


def content_kind(head: bytes) -> str | None:
    """``image`` or ``video`` by a file's first bytes (an image format's signature, or a common video container:
    MP4/MOV, AVI, Matroska/WebM, MPEG, FLV), or None when they are neither."""
    if content_format(head) is not None:
        return "image"
    if (head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
            or head[:4] == b"\x1a\x45\xdf\xa3" or head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
            or head[:3] == b"FLV"):
        return "video"
    return None


def head_of(path: str | os.PathLike) -> bytes | None:
    """The first :data:`HEAD_BYTES` bytes of a regular file (links followed), or None for anything else or a file
    that cannot be read: only a regular file is opened (a FIFO would block forever, a device never end)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except (OSError, ValueError):
        return None

# --- PNG text chunks -----------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
#: Pillow's limit on the decompressed text of one chunk (``PngImagePlugin.MAX_TEXT_CHUNK``): more is refused.
PNG_MAX_TEXT = 1 << 20


def _png_chunks(data: bytes):
    """``(type, start, end, body)`` of each whole chunk after the signature, up to IEND or the first torn one."""
    pos, n = len(_PNG_SIGNATURE), len(data)
    while pos + 12 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n:
            return
        yield kind, pos, end, memoryview(data)[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos = end


def _inflated_over(body: memoryview, limit: int) -> bool:
    """Whether zlib data inflates to more than ``limit`` bytes (never inflating more than that)."""
    inflate = zlib.decompressobj()
    try:
        inflate.decompress(body, limit)
    except zlib.error:
        return False  # Pillow drops such a chunk's text and goes on
    return bool(inflate.unconsumed_tail)


def png_text_problems(data: bytes, limit: int = PNG_MAX_TEXT) -> list[dict]:
    """The text chunks of a PNG that Pillow refuses to read (the whole image with them): ``{"chunk", "key",
    "reason", "offset"}`` each, in file order (``offset``: where the chunk starts, for :func:`strip_png_text`).
    Compressed text is inflated at most ``limit`` bytes at a time."""
    if not data.startswith(_PNG_SIGNATURE):
        return []
    found = []
    for kind, start_of_chunk, _, body in _png_chunks(data):
        if kind not in (b"zTXt", b"iTXt"):
            continue
        key, sep, rest = bytes(body[:80]).partition(b"\0")
        start = len(key) + len(sep)
        reason = None
        if kind == b"zTXt":
            method = body[start] if start < len(body) else 0
            if method != 0:
                reason = f"unknown compression method {method}"
            elif _inflated_over(body[start + 1 :], limit):
                reason = f"its text inflates to more than {limit:,} bytes"
        elif start + 2 <= len(body) and body[start] != 0 and body[start + 1] == 0:  # compressed iTXt
            tail = bytes(body[start + 2 :])
            parts = tail.split(b"\0", 2)  # language, translated keyword, text
            if len(parts) == 3 and _inflated_over(memoryview(tail)[len(parts[0]) + len(parts[1]) + 2 :], limit):
                reason = f"its text inflates to more than {limit:,} bytes"
        if reason is not None:
            found.append({"chunk": kind.decode(), "key": key.decode("latin-1"), "reason": reason,
                          "offset": start_of_chunk})
    return found


def strip_png_text(data: bytes, offsets: Collection[int] | None = None) -> bytes:
    """The PNG without its text chunks (tEXt, zTXt, iTXt; with ``offsets``, only those starting there); every
    other chunk as it was (their CRCs still hold)."""
    if not data.startswith(_PNG_SIGNATURE):
        return data
    parts, last = [data[: len(_PNG_SIGNATURE)]], len(_PNG_SIGNATURE)
    for kind, start, end, _ in _png_chunks(data):
        if kind in PNG_TEXT_CHUNKS and (offsets is None or start in offsets):
            parts.append(data[last:start])
            last = end
    parts.append(data[last:])
    return b"".join(parts)


# --- JPEG ----------------------------------------------------------------------------------------------------

_SOF_HUFFMAN = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}  # Huffman-coded frames (arithmetic ones are skipped)
_SOF_ALL = _SOF_HUFFMAN | {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_data_shortfall(data: bytes) -> str | None:
    """None, or why a Huffman-coded JPEG holds too little compressed data for the size its header states.

    Each 8×8 block of each component needs at least one bit for its DC coefficient (one Huffman code of at
    least one bit, in a sequential or in the first progressive DC scan), so the entropy-coded bytes of all scans
    are at least ``blocks / 8``. A JPEG below that bound cannot be whole: its decode would stop early and the
    rest be filled in, as for a truncated file.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, n = 2, len(data)
    frame = None
    scan_bytes = 0
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None  # not where a marker should be: let the decoder judge
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:  # end of image
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_ALL and frame is None and len(segment) >= 6:
            frame = (marker, segment)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker that is not RST/stuffing
            start = pos
            while pos < n - 1:
                if data[pos] == 0xFF and data[pos + 1] != 0 and not 0xD0 <= data[pos + 1] <= 0xD7:
                    break
                pos += 1
            else:
                pos = n
            scan_bytes += pos - start
    if frame is None or frame[0] not in _SOF_HUFFMAN:
        return None
    seg = frame[1]
    height, width, ncomp = struct.unpack(">HHB", seg[1:6])
    comps = [(seg[6 + 3 * i + 1] >> 4, seg[6 + 3 * i + 1] & 15) for i in range(ncomp) if len(seg) >= 9 + 3 * i]
    if not comps or width == 0 or height == 0:
        return None
    hmax = max(h for h, _ in comps) or 1
    vmax = max(v for _, v in comps) or 1
    blocks = sum((width * h // hmax // 8) * (height * v // vmax // 8) for h, v in comps)
    if scan_bytes * 8 < blocks:
        return (f"{width}x{height} stated, but only {scan_bytes:,} bytes of image data "
                f"(at least {-(-blocks // 8):,} needed): the data stops early")
    return None


# --- video containers ----------------------------------------------------------------------------------------

_HEAD_BYTES = 1 << 20  # AVI headers sit at the start
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_VISUAL_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"jpeg", b"mjpa", b"mjpb", b"av01", b"vp08",
                   b"vp09", b"s263", b"raw ", b"2vuy", b"apcn", b"apch", b"apcs", b"apco", b"ap4h", b"dvc ",
                   b"dvcp", b"dv5n", b"dv5p", b"mp2v", b"mx5p", b"rle ", b"png ", b"tiff", b"SVQ1", b"SVQ3",
                   b"cvid", b"h263", b"HEVC", b"VP80", b"VP90", b"ffv1", b"FFV1", b"MJPG"}


def video_frame_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(width, height)``, the largest frame an AVI or MP4/MOV file's header states, or None.

    Reads headers only (for MP4, the boxes down to the sample descriptions), never frame data.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                f.seek(0)
                return _avi_size(f.read(_HEAD_BYTES))
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                return _mp4_size(f, os.fstat(f.fileno()).st_size)
    except (OSError, struct.error):
        return None
    return None


def _avi_size(data: bytes) -> tuple[int, int] | None:
    sizes = []
    i = data.find(b"avih")
    if i >= 0 and len(data) >= i + 8 + 40:
        w, h = struct.unpack("<II", data[i + 8 + 32 : i + 8 + 40])
        sizes.append((w, h))
    pos = 0
    while (i := data.find(b"strh", pos)) >= 0:  # a video stream's format (BITMAPINFOHEADER) follows its header
        pos = i + 4
        if data[i + 8 : i + 12] != b"vids":
            continue
        j = data.find(b"strf", pos)
        if j >= 0 and len(data) >= j + 8 + 12:
            w, h = struct.unpack("<ii", data[j + 8 + 4 : j + 8 + 12])
            sizes.append((abs(w), abs(h)))
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _mp4_size(f, end: int) -> tuple[int, int] | None:
    sizes: list[tuple[int, int]] = []
    _mp4_walk(f, 0, end, sizes, depth=0)
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _mp4_walk(f, start: int, end: int, sizes: list, depth: int) -> None:
    pos = start
    while pos + 8 <= end and depth < 8:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) >= 16:
            (size,) = struct.unpack(">Q", head[8:16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        body, stop = pos + header, min(pos + size, end)
        if kind in _MP4_CONTAINERS:
            _mp4_walk(f, body, stop, sizes, depth + 1)
        elif kind == b"tkhd":
            f.seek(body)
            version = f.read(1)
            offset = 88 if version == b"\x01" else 76  # width/height: the last 8 bytes, 16.16 fixed point
            f.seek(body + offset)
            wh = f.read(8)
            if len(wh) == 8:
                w, h = struct.unpack(">II", wh)
                sizes.append((w >> 16, h >> 16))
        elif kind == b"stsd":
            f.seek(body + 8)  # version/flags, entry count
            entry = f.read(36)
            if len(entry) == 36 and entry[4:8] in _VISUAL_ENTRIES:
                w, h = struct.unpack(">HH", entry[32:36])
                sizes.append((w, h))
        pos += size
