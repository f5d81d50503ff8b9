"""Sampling with one seed per image.

Image ``i`` of a run seeded ``S`` comes from the latent drawn with ``image_seed(S, i)`` alone, so any single
fake can be regenerated from its manifest row. A forward pass's floating-point result can depend on how many
images share it (matrix-multiply blocking), so on the CPU images are generated in fixed chunks aligned on the
image index: output bytes then do not depend on the batch size, the start offset or the shard layout.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fakescope.core.budget import check_image_budget
from fakescope.core.imageio import encode_png, sha256_bytes, to_uint8, write_bytes_atomic
from fakescope.core.progress import Progress
from fakescope.core.safety import check_output_folder, only_names
from fakescope.core.seeding import derive_seed

if TYPE_CHECKING:
    from .kinds.noise import NoiseToImage


#: Images per forward pass on the CPU, aligned on the image index (see the module docstring).
CPU_CHUNK = 64


def image_seed(seed: int, index: int, *tags: str) -> int:
    """The seed of image ``index`` in a run seeded ``seed`` (``tags`` separate e.g. corpus splits)."""
    return derive_seed(seed, *tags, "image", index)


def latents(gan: NoiseToImage, seeds: list[int]) -> torch.Tensor:
    """``[N, latent]`` on the CPU, one latent per seed."""
    return torch.stack([gan.latent(torch.Generator().manual_seed(s)) for s in seeds])


def generate_range(
    gan: NoiseToImage,
    seed_of: Callable[[int], int],
    start: int,
    stop: int,
    *,
    batch_size: int = 256,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(first_index, images [B, C, H, W] float on the CPU)`` covering indices ``start .. stop-1``.

    On CUDA each forward pass takes ``batch_size`` images; on the CPU it takes aligned chunks of
    :data:`CPU_CHUNK` (``batch_size`` then only sets how many chunks are grouped per yield).
    """
    device = gan.device
    chunk = batch_size if device.type != "cpu" else CPU_CHUNK
    group = max(1, batch_size // chunk)
    first = (start // chunk) * chunk
    for base in range(first, stop, chunk * group):
        parts = []
        for c0 in range(base, min(base + chunk * group, stop), chunk):
            z = latents(gan, [seed_of(i) for i in range(c0, c0 + chunk)]).to(device)
            parts.append(gan.generate(z).float().cpu())
        images = torch.cat(parts)
        lo, hi = max(start, base), min(stop, base + len(images))
        yield lo, images[lo - base : hi - base]


_SAMPLE_NAME = re.compile(r"^\d{6}\.png$")
SAMPLE_MANIFEST = "manifest.jsonl"


def is_sample_folder(path: Path) -> bool:
    """Whether ``path`` holds a previous sample and nothing else: ``NNNNNN.png`` files and ``manifest.jsonl``."""
    return (path / SAMPLE_MANIFEST).is_file() and only_names(
        path, lambda n: n == SAMPLE_MANIFEST or bool(_SAMPLE_NAME.match(n)))


def check_sample_folder(out: str | os.PathLike, *, overwrite: bool = False) -> bool:
    """Refuse an output folder that is not new or empty, unless ``overwrite`` and it holds a previous sample
    (:class:`~fakescope.core.safety.OutputFolderError`); returns whether a previous sample is replaced."""
    return check_output_folder(out, what="sample", overwrite=overwrite, is_previous=is_sample_folder)


def sample_to_folder(
    gan: NoiseToImage,
    out: str | os.PathLike,
    *,
    count: int,
    seed: int,
    start: int = 0,
    batch_size: int = 256,
    checkpoint: dict | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
    allow_large: bool = False,
) -> list[dict]:
    """Write images ``start .. start+count-1`` as ``out/{index:06d}.png`` plus ``out/manifest.jsonl``.

    ``out`` must be new or empty; ``overwrite`` replaces a previous sample there (its images that the new one
    does not write are removed), never a folder holding anything else. The manifest is written last (a
    previous one is removed first), so a sample cut short (a full disk) has none. More than
    :data:`~fakescope.core.budget.MAX_IMAGES` images are refused unless ``allow_large``, and so are images that would
    not fit in the free space of ``out``'s disk (:class:`~fakescope.core.budget.TooLargeError`, before any write).
    """
    out = Path(out)
    c, h, w = gan.image_shape
    check_image_budget(count, what=f"sample of {count:,} images", image=(h, w, c), out=out, allow_large=allow_large,
                       confirm="pass --allow-large to sample them anyway")
    replacing = check_sample_folder(out, overwrite=overwrite)
    old = {p.name for p in out.iterdir()} if replacing else set()
    out.mkdir(parents=True, exist_ok=True)
    (out / SAMPLE_MANIFEST).unlink(missing_ok=True)  # written last: a sample cut short never looks whole
    rows = []
    for first, images in generate_range(gan, lambda i: image_seed(seed, i), start, start + count,
                                        batch_size=batch_size):
        for j, image in enumerate(images):
            index = first + j
            data = encode_png(to_uint8(image))
            write_bytes_atomic(out / f"{index:06d}.png", data)
            rows.append({
                "path": f"{index:06d}.png",
                "sha256": sha256_bytes(data),
                "generator": gan.name,
                "checkpoint": (checkpoint or {}).get("name"),
                "checkpoint_sha256": (checkpoint or {}).get("sha256"),
                "run_seed": seed,
                "index": index,
                "seed": image_seed(seed, index),
            })
        if progress is not None:
            progress(len(images))
    write_bytes_atomic(out / SAMPLE_MANIFEST, "".join(json.dumps(r) + "\n" for r in rows).encode())
    for name in old - {r["path"] for r in rows} - {SAMPLE_MANIFEST}:
        (out / name).unlink(missing_ok=True)
    return rows
