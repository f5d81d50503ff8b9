"""Translation with image-to-image GANs (``kind = "translate"``, e.g. CycleGAN): tensors, files and folders.

Images keep their size: each is reflect-padded to sides that are multiples of 4 and cropped back by the
family's ``translate`` (never stretched). On the CPU every image gets its own forward pass, so a translation
is bit-identical whatever else shares the call (a batched convolution's floating-point result can depend on
the batch); on CUDA images of one size are batched.

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

from .gan import GANFamily

DIRECTIONS = ("a2b", "b2a")
#: Larger inputs are refused rather than risking memory exhaustion (activations scale with the pixel count).
MAX_TRANSLATE_PIXELS = 4096 * 4096
MANIFEST_FILE = "manifest.jsonl"


def check_translator(gan: GANFamily, direction: str) -> None:
    """Raise ``ValueError`` unless ``gan`` translates images and ``direction`` is ``a2b`` or ``b2a``."""
    if getattr(gan, "kind", "noise") != "translate":
        raise ValueError(f"{gan.name} is not an image-to-image family (it generates from noise)")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")


def translate_images(gan: GANFamily, images: torch.Tensor, direction: str, *, batch_size: int = 16) -> torch.Tensor:
    """``images [N, C, H, W]`` in [-1, 1] → translations ``[N, C, H, W]`` (float, on the CPU).

    Image ``i``'s result depends on image ``i`` alone on the CPU (one forward pass each); on CUDA
    ``batch_size`` images share a pass.
    """
    check_translator(gan, direction)
    chunk = 1 if gan.device.type == "cpu" else max(1, batch_size)
    parts = [gan.translate(images[i : i + chunk], direction).float().cpu() for i in range(0, len(images), chunk)]
    return torch.cat(parts) if parts else images.new_empty((0, *images.shape[1:])).float()


def translate_array(gan: GANFamily, image: np.ndarray, direction: str) -> np.ndarray:
    """``uint8 [H, W, C]`` (any C of 1 or 3) → translated ``uint8 [H, W, channels of the model]``."""
    check_translator(gan, direction)
    h, w = image.shape[:2]
    if h * w > MAX_TRANSLATE_PIXELS:
        raise ImageReadError(f"too large to translate: {w}x{h} pixels (limit {MAX_TRANSLATE_PIXELS:,}); "
                             "downscale it first")
    x = to_tensor(set_channels(image, gan.config.channels)).unsqueeze(0)  # [1, C, H, W]
    return to_uint8(translate_images(gan, x, direction)[0])


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """Files and folders → ``(file, output name stem)`` pairs; folders contribute every image below them
    (by suffix, sorted) under their own name. Missing paths are kept so that they can be reported."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    found.append((p, Path(path.resolve().name or "input") / p.relative_to(path).with_suffix("")))
        else:
            found.append((path, Path(path.stem or "image")))
    return found


def translate_paths(
    gan: GANFamily,
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    direction: str,
    checkpoint: dict | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Translate image files and folders into ``out`` at their own size; returns the manifest rows.

    Unreadable inputs do not stop the run: their row has ``error`` set and no output ``path``.
    """
    check_translator(gan, direction)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint or {}
    rows, taken = [], set()
    for index, (src, stem) in enumerate(expand_inputs(inputs)):
        row: dict = {
            "index": index, "path": None, "sha256": None, "source_image": str(src), "source_sha256": None,
            "direction": direction, "generator": gan.name, "checkpoint": checkpoint.get("name"),
            "checkpoint_sha256": checkpoint.get("sha256"), "size": None, "error": None,
        }
        try:
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


#: Crops drawn per domain when a crop source (``photos``, ``paintings``) is given no count.
DEFAULT_DOMAIN_CROPS = 2000


def draw_domains(
    domain_a: str, domain_b: str, *, count: int | None, size: int, channels: int, seed: int, split: str = "train"
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Training images of two unpaired domains given as source specs (``photos``, ``paintings``,
    ``folder:PATH``): ``({"a": [Na, C, H, W], "b": [Nb, C, H, W]}, {"a": Na, "b": Nb})``.

    ``count`` images per domain; ``None`` takes a whole folder's split, or :data:`DEFAULT_DOMAIN_CROPS` crops.
    """
    from .sources import create_source

    data, counts = {}, {}
    for key, spec in (("a", domain_a), ("b", domain_b)):
        source = create_source(spec)
        n = count if count is not None or not source.crops else DEFAULT_DOMAIN_CROPS
        data[key] = source.draw(n, size=size, channels=channels, split=split, seed=seed).images
        counts[key] = len(data[key])
    return data, counts
