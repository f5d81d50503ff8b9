"""Translation of image files and folders with image → image GANs: a translator between two domains
(:class:`~.kinds.image.ImageToImage`, with a direction) or a re-synthesiser (:class:`~.kinds.resynth.SameSizeImage`,
no direction).

Images keep their size: each is reflect-padded to the sides the family needs and cropped back (never stretched);
tensors go through :func:`~.kinds.image.translate_images` or :func:`~.kinds.resynth.resynthesize_images`.

:func:`translate_paths` writes ``OUT/<name>.png`` per readable input plus ``OUT/manifest.jsonl`` with one row
per input: the output path and sha256, the source image path and sha256, the direction, the checkpoint, or
the reason the input could not be read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from fakescope.core.imageio import (
    IMAGE_SUFFIXES,
    ImageReadError,
    encode_png,
    read_image,
    set_channels,
    sha256_bytes,
    sha256_file,
    to_tensor,
    to_uint8,
    write_bytes_atomic,
)
from fakescope.core.progress import Progress
from fakescope.core.walk import walk

from .gan import GANFamily
from .kinds.image import check_translator, translate_images
from .kinds.resynth import SameSizeImage, resynthesize_images

#: Larger inputs are refused rather than risking memory exhaustion (activations scale with the pixel count).
MAX_TRANSLATE_PIXELS = 4096 * 4096
MANIFEST_FILE = "manifest.jsonl"


def converter(gan: GANFamily, direction: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """What turns ``[N, C, H, W]`` images into ``gan``'s output: a re-synthesis (``direction`` None) or a
    translation in ``direction``; ``ValueError`` when ``gan`` maps no image to an image or the direction is wrong."""
    if isinstance(gan, SameSizeImage):
        if direction is not None:
            raise ValueError(f"{gan.name} re-synthesises images: it has no direction")
        return lambda x: resynthesize_images(gan, x)
    check_translator(gan, direction)
    return lambda x: translate_images(gan, x, direction)


def translate_array(gan: GANFamily, image: np.ndarray, direction: str | None) -> np.ndarray:
    """``uint8 [H, W, C]`` (any C of 1 or 3) → translated (or re-synthesised: ``direction`` None)
    ``uint8 [H, W, channels of the model]``."""
    convert = converter(gan, direction)
    h, w = image.shape[:2]
    if h * w > MAX_TRANSLATE_PIXELS:
        raise ImageReadError(f"too large to translate: {w}x{h} pixels (limit {MAX_TRANSLATE_PIXELS:,}); "
                             "downscale it first")
    x = to_tensor(set_channels(image, gan.config.channels)).unsqueeze(0)  # [1, C, H, W]
    return to_uint8(convert(x)[0])


def expand_inputs(inputs: Iterable[str | os.PathLike], *,
                  exclude: Iterable[str | os.PathLike] = ()) -> list[tuple[Path, Path, str | None]]:
    """Files and folders → ``(file, output name stem, error)``; folders contribute every image below them (by the
    rules of :mod:`fakescope.core.walk`; the folders of ``exclude``, the outputs, never entered) under their own
    name. Missing paths and what the walk could not read (a link loop, say) are kept, with the error when known,
    so that they can be reported."""
    found: list[tuple[Path, Path, str | None]] = []
    exclude = list(exclude)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in walk(path, IMAGE_SUFFIXES, exclude=exclude, content=("image",)):
                p = Path(f.path)
                found.append((p, Path(path.resolve().name or "input") / p.relative_to(path).with_suffix(""), f.error))
        else:
            found.append((path, Path(path.stem or "image"), None))
    return found


def translate_paths(
    gan: GANFamily,
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    direction: str | None,
    checkpoint: dict | None = None,
    progress: Progress | None = None,
) -> list[dict]:
    """Translate image files and folders into ``out`` at their own size; returns the manifest rows.

    Unreadable inputs do not stop the run: their row has ``error`` set and no output ``path``. ``direction`` is
    None for a re-synthesiser.
    """
    converter(gan, direction)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint or {}
    rows, taken = [], set()
    for index, (src, stem, error) in enumerate(expand_inputs(inputs, exclude=[out])):
        row: dict = {
            "index": index, "path": None, "sha256": None, "source_image": str(src), "source_sha256": None,
            "direction": direction, "generator": gan.name, "checkpoint": checkpoint.get("name"),
            "checkpoint_sha256": checkpoint.get("sha256"), "size": None, "error": None,
        }
        try:
            if error is not None:
                raise ImageReadError(error)
            image = read_image(src)
            row["source_sha256"] = sha256_file(src)
            result = translate_array(gan, image, direction)
        except ImageReadError as exc:
            row["error"] = str(exc)
        else:
            rel = _free_name(stem, taken)
            data = encode_png(result)
            write_bytes_atomic(out / rel, data)
            row.update(path=rel, sha256=sha256_bytes(data), size=list(result.shape[:2]))
        rows.append(row)
        if progress is not None:
            progress(1)
    write_bytes_atomic(out / MANIFEST_FILE, "".join(json.dumps(r) + "\n" for r in rows).encode())
    return rows


def _free_name(stem: Path, taken: set[str]) -> str:
    """``stem.png``, or ``stem-1.png``, ``stem-2.png``, ... when an earlier input took the name."""
    rel, n = f"{stem.as_posix()}.png", 0
    while rel in taken:
        n += 1
        rel = f"{stem.as_posix()}-{n}.png"
    taken.add(rel)
    return rel
