"""Provenance evidence: what an image file says about its own origin, reported beside the detector's score.

Much synthetic media declares itself. Read here, from the bytes already read for scoring (never a second read of
the file, never the network):

- **C2PA manifests** (``c2pa-python``, the C2PA project's bindings): claim generator, signer, actions, digital
  source type, and the validation state. A signature that is valid but whose signer is on no trust list is
  reported as such; a manifest that fails validation is reported as failing, never as proof.
- **IPTC digital source type** in XMP (``trainedAlgorithmicMedia``, ``compositeWithTrainedAlgorithmicMedia``,
  ...) and XMP's ``CreatorTool``, found in the raw packet by pattern (no XML parser meets hostile input).
- **EXIF** ``Software``, ``Make``/``Model`` and a ``UserComment`` holding generation parameters.
- **PNG text chunks** of popular generators: ``parameters`` (Stable Diffusion web UIs), ``prompt``/``workflow``
  (ComfyUI), InvokeAI's metadata.
- The **invisible DWT-DCT watermark** that Stable Diffusion's reference scripts embed (``StableDiffusionV1``,
  136 bits; SDXL's 48-bit message), decoded on the pixels already decoded for scoring.

From a **video** file (:func:`read_video_provenance`: MP4, MOV, AVI), only its metadata boxes, never its frames:
its C2PA manifest, XMP, and the encoding tool MP4/MOV metadata names (``©too``).

Each piece is a :class:`~fakescope.detector.records.Finding` with a strength (how strongly it says "synthetic"):

========== ================================================================================================
strong     hard to produce by accident: a C2PA manifest from a trusted signer declaring generative AI; the
           Stable Diffusion watermark decoded (≥ 90 % of its bits)
moderate   an unsigned but specific claim: XMP digital source type of generative AI, a generator's PNG text
           chunk or EXIF parameters, a generator named in ``Software``/``CreatorTool``; a C2PA manifest whose
           signature is valid but whose signer is on no trust list
weak       a C2PA manifest declaring generative AI that fails validation; other synthetic source types; a PNG text
           chunk too large for readers (compressed text over 1 MiB: Pillow refuses the whole image for it)
info       says nothing of synthesis: a camera's ``Make``/``Model``, an editor in ``Software``, a C2PA manifest
           of a capture or edit
error      metadata present but unreadable (truncated, hostile): reported in one line, the pixels still scored
========== ================================================================================================

Metadata is easy to strip and easy to write: a finding is evidence to weigh, not a verdict, and it never changes
the score. An image without findings is not thereby real.

The watermark decoder is a vectorised form of ``invisible-watermark``'s ``dwtDct`` decoder (the library's loop
costs ~40 ms per 512² image and message, about as much as the detector). It computes every block's vote at once,
shares them between the two messages, and reads only the top rows of a large image (24 votes per bit). The tests
check that, on a whole image, it returns the library's bits exactly, on images watermarked by the library.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable

import numpy as np

from fakescope.core.safety import first_line

from .records import Finding

__all__ = ["has_metadata", "may_keep_watermark", "read_c2pa", "read_metadata", "read_provenance",
           "read_video_provenance", "read_watermark", "watermark_bits", "watermark_votes"]

#: IPTC digital source types (http://cv.iptc.org/newscodes/digitalsourcetype/) and the strength of each claim.
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "moderate",  # made by generative AI
    "compositeWithTrainedAlgorithmicMedia": "moderate",  # edited with generative AI
    "algorithmicMedia": "weak",  # made by an algorithm, no training data
    "compositeSynthetic": "weak",
    "algorithmicallyEnhanced": "weak",
}
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")

#: Names of generators and generative tools, as they appear in Software, CreatorTool and C2PA claim generators.
GENERATOR_NAMES = re.compile(
    r"stable.?diffusion|midjourney|dall.?e|firefly|novelai|comfyui|invokeai|automatic1111|\bsd.?next\b|"
    r"\bimagen\b|\bflux\b|leonardo|ideogram|openai|chatgpt|gemini|bing image creator|dreamstudio|fooocus|"
    r"stability|runway|\bgenerative\b", re.IGNORECASE)

#: PNG text chunk keys that generators write, and what each is.
PNG_TEXT_KEYS = {
    "parameters": "PNG parameters chunk (Stable Diffusion web UI generation settings)",
    "prompt": "PNG prompt chunk (ComfyUI graph)",
    "workflow": "PNG workflow chunk (ComfyUI workflow)",
    "invokeai_metadata": "PNG invokeai_metadata chunk (InvokeAI)",
    "sd-metadata": "PNG sd-metadata chunk (InvokeAI)",
    "Dream": "PNG Dream chunk (InvokeAI)",
}

#: The messages of Stable Diffusion's reference watermark (dwtDct, scale 36 on the U channel of YUV).
SD_WATERMARKS = {
    "Stable Diffusion (StableDiffusionV1)": np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)),
    "Stable Diffusion XL": np.array([int(b) for b in "101100111110110010010000011110111011000110011110"],
                                    dtype=np.uint8),
}
WATERMARK_MATCH = 0.9  # share of bits that must match (an unmarked image matches ~half)
WATERMARK_MIN_PIXELS = 256 * 256  # the library's own limit
_EXCERPT = 200  # characters of a chunk's text kept in a finding's detail


def read_provenance(data: bytes, image: np.ndarray | None = None, *, watermark: bool = True) -> list[Finding]:
    """Every finding in an image file's bytes (and, with ``image``, its decoded RGB pixels: the watermark).

    Never raises: a reader that fails gives one ``error`` finding with a one-line reason.
    """
    readers: list[tuple[str, Callable[[], list[Finding]]]] = [("metadata", lambda: read_metadata(data))]
    if _may_hold_c2pa(data):
        readers.append(("c2pa", lambda: read_c2pa(data)))
    if watermark and image is not None and may_keep_watermark(data):
        readers.append(("watermark", lambda: read_watermark(image)))
    return _run_readers(readers)


def _run_readers(readers: list[tuple[str, Callable[[], list[Finding]]]]) -> list[Finding]:
    """Every reader's findings, in order; a reader that fails gives one ``error`` finding instead."""
    findings: list[Finding] = []
    for kind, read in readers:
        try:
            findings += read()
        except Exception as exc:  # noqa: BLE001 — hostile metadata must never stop scoring
            findings.append(Finding(kind, f"{kind} unreadable ({type(exc).__name__}: {first_line(exc, 200)})", "error"))
    return findings


# --- EXIF, XMP, PNG text ---------------------------------------------------------------------------------------

_EXIF_SOFTWARE, _EXIF_MAKE, _EXIF_MODEL, _EXIF_IFD, _EXIF_USER_COMMENT = 0x0131, 0x010F, 0x0110, 0x8769, 0x9286


#: Bytes without which a file of that format holds none of the metadata read here (PNG: a text or EXIF chunk;
#: JPEG: an EXIF or XMP APP1 segment; WebP: an EXIF or XMP chunk). A file lacking all of them is not parsed.
_METADATA_MARKERS = {
    b"\x89PNG": (b"tEXt", b"iTXt", b"zTXt", b"eXIf"),
    b"\xff\xd8": (b"Exif\x00", b"http://ns.adobe.com/xap/1.0/\x00"),
    b"RIFF": (b"EXIF", b"XMP "),
}
_PNG_IDAT = b"IDAT"


def has_metadata(data: bytes) -> bool:
    """Whether the file may carry metadata :func:`read_metadata` reads: a byte scan, no parsing (other formats:
    always)."""
    for magic, markers in _METADATA_MARKERS.items():
        if data.startswith(magic):
            return any(m in data for m in markers)
    return True


def read_metadata(data: bytes) -> list[Finding]:
    """Findings from the metadata Pillow reads with the header: PNG text chunks, XMP, EXIF.

    A file whose bytes hold no metadata marker (:func:`has_metadata`) is not parsed. A PNG's pixels are decoded
    only when a text or EXIF chunk may follow its image data (Pillow reads those chunks after the pixels).
    """
    from PIL import Image

    from fakescope.core.formats import IMAGE_FORMATS, png_text_problems, strip_png_text

    if not has_metadata(data):
        return []
    findings: list[Finding] = []
    oversized = png_text_problems(data)
    if oversized:  # reported, and left out so that the rest is read
        findings += [_oversized_text(p) for p in oversized]
        data = strip_png_text(data, {p["offset"] for p in oversized})
    with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
        if im.format == "PNG":
            idat = data.find(_PNG_IDAT)
            if idat < 0 or any(data.find(m, idat) >= 0 for m in _METADATA_MARKERS[b"\x89PNG"]):
                im.load()  # chunks after the image data
            elif "exif" not in im.info:
                im.info["exif"] = b""  # none after the pixels: keeps getexif() from decoding them to look
        info = dict(im.info)
        if im.format == "PNG":
            findings += _png_text(info)
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        if xmp:
            findings += _xmp(xmp)
        try:
            exif = im.getexif()
        except Exception as exc:  # noqa: BLE001 — a malformed EXIF block
            findings.append(Finding("exif", f"EXIF unreadable ({type(exc).__name__}: {first_line(exc, 200)})", "error"))
        else:
            findings += _exif(exif)
    return findings


def _oversized_text(problem: dict) -> Finding:
    """A text chunk no common reader reads (Pillow refuses the whole image for it): a generator's key keeps its
    strength; any other is weak evidence, a way to keep an image from metadata readers and detectors alike."""
    key = problem["key"]
    known = PNG_TEXT_KEYS.get(key)
    name = "PNG parameters chunk" if key == "parameters" else known.split(" (")[0] if known else \
        f"PNG text chunk {key!r}"
    return Finding("png-text", f"{name}, too large to read ({problem['chunk']}: {problem['reason']})",
                   "moderate" if known else "weak",
                   {"chunk": key, "type": problem["chunk"], "reason": problem["reason"], "oversized": True})


def _png_text(info: dict) -> list[Finding]:
    out = []
    for key, what in PNG_TEXT_KEYS.items():
        value = info.get(key)
        if isinstance(value, str | bytes) and value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            found = "PNG parameters chunk" if key == "parameters" else what.split(" (")[0]
            out.append(Finding("png-text", found, "moderate",
                               {"chunk": key, "what": what, "length": len(text), "excerpt": text[:_EXCERPT]}))
    software = info.get("Software")
    if isinstance(software, str) and software:
        out.append(_software("png-text", "PNG Software chunk", software))
    return out


_DST = re.compile(r"digitalsourcetype/([A-Za-z]+)")
_CREATOR_TOOL = re.compile(r"CreatorTool(?:=\"([^\"<]{1,400})|='([^'<]{1,400})|>([^<]{1,400}))")
_XML_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));")
_XML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def xml_text(raw: str) -> str:
    """An XML attribute value or element text as its characters: the five predefined entities and numeric
    character references decoded (``&lt;script&gt;`` is ``<script>``); a reference to no valid character stays
    as written. The result is text like any other: every output escapes it where it is shown."""

    def char(m: re.Match) -> str:
        if m.group(1):
            return _XML_NAMED[m.group(1)]
        code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else m.group(0)

    return _XML_REFERENCE.sub(char, raw)


def _xmp(xmp: bytes | str) -> list[Finding]:
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    out = []
    for dst in dict.fromkeys(_DST.findall(text)):  # each type once, in order
        strength = SOURCE_TYPES.get(dst, "info")
        out.append(Finding("xmp", f"XMP digital source type {dst}", strength, {"digital_source_type": dst}))
    m = _CREATOR_TOOL.search(text)
    if m:
        value = next(g for g in m.groups() if g is not None)  # an attribute in either quotes, or element text
        out.append(_software("xmp", "XMP CreatorTool", xml_text(value).strip()))
    if "xmpmeta" in text and "</x:xmpmeta>" not in text:
        out.append(Finding("xmp", "XMP packet truncated or malformed", "error", {"length": len(text)}))
    return out


def _exif(exif) -> list[Finding]:
    out = []
    software = exif.get(_EXIF_SOFTWARE)
    if isinstance(software, str) and software.strip():
        out.append(_software("exif", "EXIF Software", software.strip()))
    make, model = exif.get(_EXIF_MAKE), exif.get(_EXIF_MODEL)
    camera = " ".join(str(v).strip() for v in (make, model) if isinstance(v, str) and v.strip())
    if camera:
        out.append(Finding("exif", f"camera claimed: {camera[:_EXCERPT]}", "info", {"make": make, "model": model}))
    try:
        comment = exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT)
    except Exception:  # noqa: BLE001 — a malformed sub-IFD says nothing either way
        comment = None
    if isinstance(comment, bytes):  # 8 bytes of character code, then the text
        code, body = comment[:8], comment[8:]
        comment = body.decode("utf-16-be" if code.startswith(b"UNICODE") else "utf-8", "replace")
    if isinstance(comment, str) and "Steps:" in comment and ("Sampler:" in comment or "Seed:" in comment):
        out.append(Finding("exif", "EXIF UserComment holds generation parameters", "moderate",
                           {"excerpt": comment[:_EXCERPT]}))
    return out


def _software(kind: str, where: str, value: str) -> Finding:
    value = value[:_EXCERPT]
    if GENERATOR_NAMES.search(value):
        return Finding(kind, f"{where}: {value} (a generator)", "moderate", {"software": value})
    return Finding(kind, f"{where}: {value}", "info", {"software": value})


# --- C2PA ----------------------------------------------------------------------------------------------------

_C2PA_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_MIME = {b"\x89PNG": "image/png", b"\xff\xd8": "image/jpeg", b"RIFF": "image/webp", b"II*\x00": "image/tiff",
         b"MM\x00*": "image/tiff"}


def _may_hold_c2pa(data: bytes) -> bool:
    """A cheap test before the C2PA reader is loaded: a JUMBF store labelled c2pa, or XMP pointing to one."""
    return b"c2pa" in data or b"dcterms:provenance" in data


def _mime(data: bytes) -> str | None:
    for magic, mime in _MIME.items():
        if data.startswith(magic):
            return mime
    if data[4:8] == b"ftyp":
        return "image/avif" if b"avif" in data[8:32] else "image/heic"
    return None


def read_c2pa(data: bytes) -> list[Finding]:
    """The active C2PA manifest: who made the image with what, who signed it, and whether the signature holds.

    Validation is offline: no remote manifest and no OCSP response is fetched (a manifest stored elsewhere is
    reported as such).
    """
    return _read_c2pa_stream(_mime(data), io.BytesIO(data))


def _read_c2pa_stream(mime: str | None, stream) -> list[Finding]:
    """:func:`read_c2pa` on a seekable binary stream of a file of type ``mime`` (None: a type it does not take)."""
    import c2pa

    if mime is None:
        return [Finding("c2pa", "C2PA data in a file type the C2PA reader does not take", "error")]
    context = c2pa.Context.from_dict(_C2PA_SETTINGS)
    try:
        reader = c2pa.Reader(mime, stream, context=context)
    except c2pa.C2paError as exc:
        text = first_line(exc, 200)
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in text:
            return []
        if "Remote" in type(exc).__name__ or "remote" in text.lower():
            return [Finding("c2pa", "C2PA manifest stored outside the file (not fetched)", "info",
                            {"reason": text})]
        return [Finding("c2pa", f"C2PA manifest does not parse ({text})", "error")]
    with reader:
        store = json.loads(reader.json())
        state = reader.get_validation_state() or "Unknown"
    return [_c2pa_finding(store, state)]


def _c2pa_finding(store: dict, state: str) -> Finding:
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    gens = manifest.get("claim_generator_info") or []
    generator = ", ".join(" ".join(str(g[k]) for k in ("name", "version") if g.get(k)) for g in gens
                          if isinstance(g, dict)) or str(manifest.get("claim_generator") or "unknown generator")
    sig = manifest.get("signature_info") or {}
    signer = sig.get("common_name") or sig.get("issuer") or "unknown signer"
    actions, sources = [], []
    for a in manifest.get("assertions") or []:
        if isinstance(a, dict) and str(a.get("label", "")).startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions") or []:
                actions.append(str(act.get("action")))
                if act.get("digitalSourceType"):
                    sources.append(str(act["digitalSourceType"]).rsplit("/", 1)[-1])
    failures = [s.get("code") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    untrusted_only = all(str(c).startswith("signingCredential.untrusted") for c in failures)
    ai = any(s in AI_SOURCE_TYPES for s in sources) or bool(GENERATOR_NAMES.search(generator))
    synthetic = ai or any(SOURCE_TYPES.get(s) for s in sources)
    if state == "Trusted":
        how, strength = f"trusted signer {signer}", "strong" if ai else ("weak" if synthetic else "info")
    elif state == "Valid" and untrusted_only:
        how, strength = "signer not on a trust list", "moderate" if ai else (
            "weak" if synthetic else "info")
    else:
        how = f"fails validation ({', '.join(map(str, failures[:3])) or state})"
        strength = "weak" if synthetic else "info"
    what = f"created by {generator}" if "c2pa.created" in actions or not actions else f"edited with {generator}"
    if sources:
        what += f" ({', '.join(dict.fromkeys(sources))})"
    return Finding("c2pa", f"C2PA: {what}; {how}", strength,
                   {"claim_generator": generator, "signer": signer, "issuer": sig.get("issuer"),
                    "validation_state": state, "validation_failures": failures, "actions": actions,
                    "digital_source_types": sources})


# --- videos ------------------------------------------------------------------------------------------------------

_MP4_TOOL = b"\xa9too"  # the iTunes-style encoding-tool item of MP4/MOV metadata (ffmpeg writes "Lavf...")
_XMP_MAX = 1 << 20  # bytes an XMP packet may span
_METADATA_MAX = 64 << 20  # bytes of a video's metadata boxes read at most; the rest is left unread
_MEDIA_BOXES = (b"mdat", b"free", b"skip", b"wide")  # ISO-BMFF boxes of frames or padding: never read
_MEDIA_CHUNKS = (b"movi", b"idx1", b"JUNK")  # RIFF (AVI): the frames, their index, padding
_MAX_BOXES = 10_000  # top-level boxes walked at most (a fragmented MP4 has a few per second of video)
_QUICKTIME_FIRST = (b"moov", b"mdat", b"wide", b"free", b"skip")  # first boxes of QuickTime files without ftyp


def read_video_provenance(path: str) -> list[Finding]:
    """The evidence a video file carries: a C2PA manifest (MP4, MOV, AVI), XMP (digital source type,
    CreatorTool) and the encoding tool MP4/MOV metadata names. Never raises.

    A video can be large, and its frames are decoded by OpenCV from the path: only the container's metadata boxes
    are read (the top-level boxes of an MP4/MOV or chunks of an AVI other than its frames, at most 64 MB in all);
    the C2PA reader then reads the open file. Other containers (MKV, WebM, ...) are not read.
    """
    try:
        with open(path, "rb") as f:
            mime = _video_mime(f.read(16))
            if mime is None:
                return []
            meta = _video_metadata_bytes(f, mime)

            def c2pa_of_file() -> list[Finding]:
                f.seek(0)
                return _read_c2pa_stream(mime, f)

            readers: list[tuple[str, Callable[[], list[Finding]]]] = [("metadata", lambda: _video_metadata(meta))]
            if _may_hold_c2pa(meta):
                readers.append(("c2pa", c2pa_of_file))
            return _run_readers(readers)
    except OSError as exc:
        return [Finding("metadata", f"metadata unreadable ({type(exc).__name__}: {first_line(exc, 200)})", "error")]


def _video_mime(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[4:8] in _QUICKTIME_FIRST:
        return "video/quicktime"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


def _video_metadata_bytes(f, mime: str) -> bytes:
    """The bytes of the container's top-level boxes (chunks) that are not frames, joined; at most
    ``_METADATA_MAX`` bytes from at most ``_MAX_BOXES`` boxes. A malformed size ends the walk (what was read so far
    is kept). An AVI is walked inside its first RIFF chunk only (OpenDML's further ``AVIX`` chunks hold frames)."""
    size = os.fstat(f.fileno()).st_size
    riff = mime == "video/x-msvideo"
    pos, out = (12 if riff else 0), bytearray()
    if riff:
        f.seek(4)
        size = min(size, 8 + int.from_bytes(f.read(4), "little"))
    for _ in range(_MAX_BOXES):
        if pos + 8 > size or len(out) >= _METADATA_MAX:
            break
        f.seek(pos)
        head = f.read(16)
        kind = head[:4] if riff else head[4:8]
        if riff:
            length = 8 + int.from_bytes(head[4:8], "little")
            skip = kind in _MEDIA_CHUNKS or (kind == b"LIST" and head[8:12] in _MEDIA_CHUNKS)
            length += length % 2  # chunks are padded to an even size
        else:
            length = int.from_bytes(head[:4], "big")
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")  # a 64-bit size
            elif length == 0:
                length = size - pos  # to the end of the file
            skip = kind in _MEDIA_BOXES
        if length < 8:
            break
        if not skip:
            f.seek(pos)
            out += f.read(min(length, _METADATA_MAX - len(out)))
        pos += length
    return bytes(out)


def _xmp_packet(data: bytes) -> tuple[bytes | None, bool]:
    """(the first XMP packet, whether one starts): its end is looked for within ``_XMP_MAX`` bytes only."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None, False
    end = data.find(b"</x:xmpmeta>", start, start + _XMP_MAX)
    return (data[start:end + len(b"</x:xmpmeta>")] if end >= 0 else None), True


def _video_metadata(meta: bytes) -> list[Finding]:
    out = []
    packet, started = _xmp_packet(meta)
    if packet is not None:
        out += _xmp(packet)
    elif started:
        out.append(Finding("xmp", "XMP packet truncated or malformed", "error"))
    at = meta.find(_MP4_TOOL)
    # ©too, then its data atom: [size:4]["data"][type:4][locale:4][UTF-8 value]
    if at >= 0 and meta[at + 8:at + 12] == b"data":
        length = int.from_bytes(meta[at + 4:at + 8], "big")
        if 16 <= length <= 16 + 4 * _EXCERPT:
            value = meta[at + 20:at + 4 + length].decode("utf-8", "replace").strip()
            if value:
                out.append(_software("metadata", "encoding tool", value))
    return out


# --- the Stable Diffusion watermark ---------------------------------------------------------------------------

def watermark_votes(rgb: np.ndarray, *, max_blocks: int | None = None, scale: int = 36, block: int = 4
                    ) -> np.ndarray:
    """Each block's vote (0 or 1) as ``invisible-watermark``'s ``dwtDct`` decoder casts it, in its order.

    As the library: BGR → YUV, a Haar DWT of the U channel (cropped to a multiple of 4), ``block``×``block``
    blocks of its approximation band in row order; a block votes 1 when its largest non-DC coefficient's magnitude
    modulo ``scale`` exceeds half of ``scale``. ``max_blocks``: decode only enough top rows of the image for that
    many blocks (block numbering is unchanged: the rows are full width).
    """
    import cv2

    h, w = rgb.shape[:2]
    h4, w4 = h // 4 * 4, w // 4 * 4
    if max_blocks is not None:
        per_row = w4 // 2 // block  # blocks per row of blocks, each 2 * block image rows high
        h4 = min(h4, -(-max_blocks // max(per_row, 1)) * 2 * block)
    # RGB → YUV equals the library's BGR → YUV of the same pixels (same coefficients), without the copy
    u = cv2.cvtColor(np.ascontiguousarray(rgb[:h4, :w4]), cv2.COLOR_RGB2YUV)[..., 1]
    band = haar_approximation(u)  # [h4/2, w4/2]
    rows, cols = band.shape[0] // block, band.shape[1] // block
    blocks = band[: rows * block, : cols * block].reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(rows * cols, block * block)  # row-major block order, as the library walks them
    pos = np.abs(blocks[:, 1:]).argmax(axis=1) + 1
    val = np.abs(blocks[np.arange(len(blocks)), pos])
    return ((val % scale) > 0.5 * scale).astype(np.float64)


_HAAR = 0.7071067811865476  # PyWavelets' Haar filter tap, 1/sqrt(2)


def haar_approximation(channel: np.ndarray) -> np.ndarray:
    """The approximation band of a one-level 2-D Haar DWT (``pywt.dwt2(channel, "haar")[0]`` for even sides),
    with the same floating-point operations in the same order (columns, then rows), so bit for bit the same; ~20×
    faster, as the other three bands are never computed. ``channel`` [H, W] (H, W even) → [H/2, W/2]."""
    x = channel.astype(np.float64)
    x = x[0::2] * _HAAR + x[1::2] * _HAAR  # along axis 0 first, as pywt.dwtn
    return x[:, 0::2] * _HAAR + x[:, 1::2] * _HAAR


def bits_from_votes(votes: np.ndarray, length: int) -> np.ndarray:
    """Block ``n`` votes for bit ``n % length``; a bit is set when more than 127/255 of its votes are (the
    library's rule)."""
    which = np.arange(len(votes)) % length
    share = np.bincount(which, weights=votes, minlength=length) / np.maximum(np.bincount(which, minlength=length), 1)
    return share * 255 > 127


def watermark_bits(rgb: np.ndarray, length: int, *, max_blocks: int | None = None) -> np.ndarray:
    """The ``length`` bits the library's ``dwtDct`` decoder reads from an RGB ``uint8`` image (``max_blocks``: from
    its top rows only)."""
    return bits_from_votes(watermark_votes(rgb, max_blocks=max_blocks), length)


#: Blocks decoded per image: 24 votes per bit of the longest message (the rest of a large image adds nothing
#: to a clean watermark and costs time: the whole of a 512² image is 4,096 blocks).
WATERMARK_BLOCKS = 24 * 136


#: Largest mean chroma quantisation step at which a JPEG can keep the watermark, per chroma sampling (Pillow's
#: ``get_sampling``: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0). Measured on photographs watermarked by invisible-watermark
#: and saved by Pillow, read back by the library's decoder (benchmarks/evidence_cost/README.md): 4:4:4 whole at
#: quality 90 (mean step 17), on some images at 85 (26), on none at 80 (35); 4:2:2 whole at 98 (3.5), on one image
#: in six at 95 (8.7); 4:2:0 (most encoders' default) on some images at 100 (1), on none at 98 (3.5) or below.
JPEG_WATERMARK_MAX_STEP = {0: 30.0, 1: 9.0, 2: 2.0}


def may_keep_watermark(data: bytes) -> bool:
    """False for a JPEG compressed too hard for the Stable Diffusion watermark to survive (its chroma quantised
    coarsely, or subsampled below near-lossless quality): decoding it there costs time and can find nothing.
    True for every other file. Reads the JPEG header only (quantisation tables, sampling factors)."""
    if not data.startswith(b"\xff\xd8"):
        return True
    from PIL import Image, JpegImagePlugin

    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            layers = getattr(im, "layer", None) or []
            tables = getattr(im, "quantization", None) or {}
            if len(layers) != 3:
                return True  # gray or CMYK: no chroma to judge by
            sampling = JpegImagePlugin.get_sampling(im)
            chroma = tables.get(layers[1][3]) if len(layers) > 1 else None
    except Exception:  # noqa: BLE001 — an unusual header: let the decoder look
        return True
    if chroma is None:
        return True
    limit = JPEG_WATERMARK_MAX_STEP.get(sampling)
    return limit is None or float(np.mean(chroma)) <= limit


def read_watermark(rgb: np.ndarray) -> list[Finding]:
    """The Stable Diffusion watermark, when at least :data:`WATERMARK_MATCH` of its bits are read back."""
    h, w = rgb.shape[:2]
    if h * w < WATERMARK_MIN_PIXELS or rgb.ndim != 3:
        return []
    votes = watermark_votes(rgb, max_blocks=WATERMARK_BLOCKS)  # one pass, shared by the messages
    out = []
    for name, message in SD_WATERMARKS.items():
        match = float((bits_from_votes(votes, len(message)) == message.astype(bool)).mean())
        if match >= WATERMARK_MATCH:
            out.append(Finding("watermark", f"invisible watermark of {name}", "strong",
                               {"message": name, "bits": len(message), "bits_matched": round(match, 3)}))
    return out

