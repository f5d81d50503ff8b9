"""Generating and writing one batch of a corpus: the seam between the device and the writer threads.

:func:`generate_fakes` asks the generator's kind for the fakes of one entry (:meth:`GANFamily.corpus_fakes`) and
turns them into :class:`FakeBatch` es of ``uint8`` pixels; :func:`write_fakes` and :func:`write_reals` convert,
perturb, encode, hash and write (atomically) the images of one block and return their manifest rows. A build
runs the first on the device thread and the others in writer threads; ``build_corpus(generate=...)`` takes any
function with :func:`generate_fakes`' signature (a benchmark replays batches generated beforehand through it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fakescope.core.corpus import image_path
from fakescope.core.imageio import encode_jpeg, encode_png, resize, set_channels, sha256_bytes, write_bytes_atomic
from fakescope.core.perturb import apply_perturbation
from fakescope.core.seeding import numpy_rng

from ..gan import GANFamily
from ..recipes import FakeEntry, RealEntry, Recipe
from ..sources import RealSource


@dataclass(frozen=True)
class FakeRequest:
    """The fakes ``start .. stop-1`` of one ``[[fake]]`` entry in one split."""

    gan: GANFamily
    entry: FakeEntry
    split: str
    start: int
    stop: int
    seed: int  # the recipe's seed
    batch_size: int
    sources: Mapping[str, RealSource]  # real sources by spec (image-to-image inputs), loaded once
    size: int = 0  # the corpus's stored image side (re-synthesis draws its inputs at it)


@dataclass(frozen=True)
class FakeBatch:
    """Fakes ``first .. first + len(pixels) - 1`` of one entry: pixels and what each manifest row adds."""

    first: int
    pixels: np.ndarray  # uint8 [B, H, W, C]
    rows: list[dict]  # per image: its seed, or the real image it was made from

    def __len__(self) -> int:
        return len(self.pixels)

    def part(self, start: int, stop: int) -> FakeBatch:
        return FakeBatch(self.first + start, self.pixels[start:stop], self.rows[start:stop])


#: ``generate_fakes``' signature: a request in, its batches out in index order.
GenerateFakes = Callable[[FakeRequest], Iterator[FakeBatch]]


def generate_fakes(request: FakeRequest) -> Iterator[FakeBatch]:
    """The batches of ``request``, generated on the GAN's device, as ``uint8`` pixels on the host."""
    for first, images, rows in request.gan.corpus_fakes(request):
        yield FakeBatch(first, to_uint8_batch(images), rows)


def to_uint8_batch(images: torch.Tensor) -> np.ndarray:
    """``[B, C, H, W]`` float in [-1, 1] → ``uint8 [B, H, W, C]`` (same rounding as ``imageio.to_uint8``)."""
    arr = images.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return arr.permute(0, 2, 3, 1).contiguous().numpy()


@dataclass
class WriteContext:
    """What the writer threads need: the output folder and how every image is converted and stored."""

    out: Path
    recipe: Recipe
    size: int
    channels: int
    suffix: str  # .png or .jpg
    done: set[str]  # paths already written (resume)
    sources: dict[str, RealSource]

    def path(self, entry: RealEntry | FakeEntry, label: int, split: str, index: int) -> str:
        return image_path(entry.name, label, split, index, self.suffix)


def write_reals(ctx: WriteContext, entry: RealEntry, split: str, start: int, stop: int) -> list[dict]:
    """Draw real images ``start .. stop-1`` of ``entry`` and store those not yet written; their manifest rows."""
    drawn = ctx.sources[entry.source].draw(stop - start, size=ctx.size, channels=ctx.channels, split=split,
                                           seed=ctx.recipe.seed, start=start)
    pixels = to_uint8_batch(drawn.images)
    rows = []
    for j, (image, meta) in enumerate(zip(pixels, drawn.meta, strict=True)):
        index = start + j
        path = ctx.path(entry, 0, split, index)
        if path in ctx.done:
            continue
        row = {"label": 0, "split": split, "index": index, "origin": entry.name, "source": meta["source"],
               "source_image": meta["item"], "crop": meta.get("crop")}
        if "enlarged" in meta:  # how an enlarged: source made the image from its window
            row["enlarged"] = meta["enlarged"]
        rows.append(store_image(ctx, path, image, row))
    return rows


def write_fakes(ctx: WriteContext, entry: FakeEntry, gan: GANFamily, checkpoint_sha256: str, split: str,
                batch: FakeBatch) -> list[dict]:
    """Store the fakes of ``batch`` not yet written; their manifest rows."""
    rows = []
    for j, image in enumerate(batch.pixels):
        index = batch.first + j
        path = ctx.path(entry, 1, split, index)
        if path in ctx.done:
            continue
        row = {"label": 1, "split": split, "index": index, "origin": entry.name, "generator": gan.name,
               "checkpoint": entry.generator, "checkpoint_sha256": checkpoint_sha256, **batch.rows[j]}
        rows.append(store_image(ctx, path, image, row))
    return rows


def store_image(ctx: WriteContext, path: str, image: np.ndarray, row: dict) -> dict:
    """Convert, perturb, encode and write one image; returns its manifest row (keys with None left out)."""
    image = resize(set_channels(image, ctx.channels), ctx.size)  # [H, W, C] uint8
    for k, p in enumerate(ctx.recipe.perturbations):
        image = apply_perturbation(image, p, numpy_rng(ctx.recipe.seed, "perturb", k, path))
    fmt = ctx.recipe
    data = encode_png(image) if fmt.format == "png" else encode_jpeg(image, fmt.quality)
    write_bytes_atomic(ctx.out / path, data)
    kept = {k: v for k, v in row.items() if v is not None}
    return {"path": path, "sha256": sha256_bytes(data), "size": [image.shape[0], image.shape[1]], **kept}
