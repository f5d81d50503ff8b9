"""Regenerating corpus images from their manifest rows: the check that a corpus holds what its recipe makes.

A real image comes back from its source (the split, index and seed fix the item and the window), a fake from its
generator (noise fakes from their seed, computed in the fixed chunk the build computed them in; image-to-image
fakes from the real image they were made from). Each is converted, perturbed and encoded as the build did, into a
scratch folder, and its sha256 compared with the row's. Corpora built on the CPU regenerate byte for byte on any
CPU; one built on CUDA only on CUDA with the same batch size (``corpus.json``'s ``determinism`` says which).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from fakescope.core.corpus import CorpusError, read_manifest, read_record

from ..recipes import Recipe, recipe_to_dict
from ..sources import create_source, split_schemes
from .batches import FakeRequest, WriteContext, generate_fakes, write_fakes, write_reals
from .build import load_entry_generator


def sample_rows(rows: Sequence[dict], count: int) -> list[dict]:
    """About ``count`` rows spread evenly over the manifest, half real and half fake where both are there."""
    reals, fakes = [r for r in rows if r["label"] == 0], [r for r in rows if r["label"] == 1]
    wanted = {0: count - count // 2, 1: count // 2} if reals and fakes else {0: count, 1: count}
    picked = []
    for label, group in ((0, reals), (1, fakes)):
        n = min(wanted[label], len(group))
        picked += [group[round(i * (len(group) - 1) / max(n - 1, 1))] for i in range(n)] if n else []
    return picked


def regenerate(corpus: str | os.PathLike, recipe: Recipe, rows: Sequence[dict], *,
               device: torch.device | str = "cpu", batch_size: int = 64) -> list[str]:
    """The sha256 each of ``rows`` (manifest rows of ``corpus``) gets when made again from ``recipe``, in order.

    Refuses (:class:`CorpusError`) a recipe other than the one ``corpus.json`` records, a device the corpus's
    bytes do not reproduce on, and a row whose entry the recipe does not have."""
    record = read_record(corpus)
    if record.get("recipe") != recipe_to_dict(recipe):
        raise CorpusError(f"{corpus}: built from another recipe than the one given (corpus.json records its recipe)")
    device = torch.device(device)
    determinism = record.get("determinism") or {}
    built_on = determinism.get("device_type", "cpu")
    if built_on != device.type:
        raise CorpusError(f"{corpus}: built on {built_on}; its bytes regenerate on {built_on} only (--device)")
    if built_on != "cpu":  # on CUDA the bytes depend on the batch size the build used
        batch_size = int(determinism.get("batch_size", batch_size))
    if record.get("splits", {}) != split_schemes(recipe.source_specs):
        raise CorpusError(f"{corpus}: built when a folder: source was split another way (by an older fakescope); "
                          "its real images do not regenerate")
    recorded = {g.get("name"): g.get("sha256") for g in record.get("generators", [])}
    image = record["image"]
    suffix = ".jpg" if recipe.format == "jpeg" else ".png"
    reals = {e.name: e for e in recipe.real}
    fakes = {e.name: i for i, e in enumerate(recipe.fake)}
    gans: dict[int, tuple] = {}
    with tempfile.TemporaryDirectory(prefix="fakescope-regenerate-") as scratch:
        ctx = WriteContext(Path(scratch), recipe, image["size"], image["channels"], suffix, set(), {})
        for spec in recipe.source_specs:
            ctx.sources.setdefault(spec, create_source(spec))
        digests = []
        for row in rows:
            split, index = row["split"], int(row["index"])
            if row["label"] == 0 and row.get("origin") in reals:
                made = write_reals(ctx, reals[row["origin"]], split, index, index + 1)
            elif row["label"] == 1 and row.get("origin") in fakes:
                i = fakes[row["origin"]]
                if i not in gans:
                    gans[i] = load_entry_generator(recipe, i, device)
                    if gans[i][1]["sha256"] != recorded.get(row["origin"]):
                        raise CorpusError(f"{corpus}: generator {row['origin']!r} is not the checkpoint the corpus "
                                          f"was built with (weights sha256 {gans[i][1]['sha256'][:12]}…, "
                                          f"corpus.json records {str(recorded.get(row['origin']))[:12]}…)")
                gan, meta = gans[i]
                request = FakeRequest(gan, recipe.fake[i], split, index, index + 1, recipe.seed, batch_size,
                                      ctx.sources, ctx.size)
                made = [r for batch in generate_fakes(request)
                        for r in write_fakes(ctx, recipe.fake[i], gan, meta["sha256"], split, batch)]
            else:
                raise CorpusError(f"{row['path']}: its origin {row.get('origin')!r} is no entry of the recipe")
            digests.append(made[0]["sha256"])
    return digests


def check_regeneration(corpus: str | os.PathLike, recipe: Recipe, count: int, *,
                       device: torch.device | str = "cpu") -> dict:
    """Regenerate about ``count`` rows spread over the manifest: ``{"checked", "differ"}`` (paths whose bytes came
    out other than recorded)."""
    rows = sample_rows(read_manifest(corpus), count)
    digests = regenerate(corpus, recipe, rows, device=device)
    return {"checked": len(rows), "differ": [r["path"] for r, d in zip(rows, digests, strict=True)
                                             if d != r["sha256"]]}
