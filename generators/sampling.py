"""Sampling with one seed per image.

Image ``i`` of a run seeded ``S`` comes from the latent drawn with ``image_seed(S, i)`` alone, so any single
fake can be regenerated from its manifest row. A forward pass's floating-point result can depend on how many
images share it (matrix-multiply blocking), so on the CPU images are generated in fixed chunks aligned on the
image index: output bytes then do not depend on the batch size, the start offset or the shard layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fakescope.core.imageio import encode_png, sha256_bytes, to_uint8, write_bytes_atomic
from fakescope.core.progress import Progress
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
) -> list[dict]:
    """Write images ``start .. start+count-1`` as ``out/{index:06d}.png`` plus ``out/manifest.jsonl``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
    write_bytes_atomic(out / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    return rows
