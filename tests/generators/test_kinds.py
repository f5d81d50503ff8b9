"""GAN kinds are types: every registered family implements one kind interface, and its hooks do what the corpus
builder and the recipes expect of them."""

from __future__ import annotations

import inspect

import pytest
import torch
from fakescope.generators.corpus import FakeRequest
from fakescope.generators.gan import GANS, GANFamily, create_gan, list_gans
from fakescope.generators.kinds.image import ImageToImage
from fakescope.generators.kinds.noise import NoiseToImage
from fakescope.generators.kinds.resynth import SameSizeImage
from fakescope.generators.recipes import FakeEntry
from fakescope.generators.sources import create_source

KINDS = (NoiseToImage, ImageToImage, SameSizeImage)


@pytest.mark.parametrize("name", list_gans())
def test_every_family_is_one_concrete_kind(name):
    cls = GANS.get(name)
    assert issubclass(cls, GANFamily) and not inspect.isabstract(cls)
    assert sum(issubclass(cls, k) for k in KINDS) == 1
    assert cls.kind and cls.name == name  # registered under the name it states


def entry_for(cls, **keys) -> FakeEntry:
    return FakeEntry(name="x", generator="x", sha256=None, counts={"train": 3}, **keys)


def test_entry_problems_follow_the_kind():
    vanilla, cyclegan = GANS.get("vanilla"), GANS.get("cyclegan")
    assert vanilla.entry_problem(entry_for(vanilla)) is None
    assert "only apply to image-to-image families" in vanilla.entry_problem(entry_for(vanilla, direction="a2b"))
    assert "translates images" in cyclegan.entry_problem(entry_for(cyclegan))
    assert cyclegan.entry_problem(entry_for(cyclegan, input="digits", direction="a2b")) is None
    assert cyclegan.entry_problem(entry_for(cyclegan, input="digits", direction="up")).startswith(".direction 'up'")
    resynth = GANS.get("resynth")
    assert "re-synthesises real images" in resynth.entry_problem(entry_for(resynth))
    assert "no direction" in resynth.entry_problem(entry_for(resynth, input="digits", direction="a2b"))
    assert resynth.entry_problem(entry_for(resynth, input="digits")) is None


@pytest.mark.parametrize("name", list_gans())
def test_corpus_fakes_cover_the_request_in_index_order(name, tiny):
    gan = create_gan(name, seed=0, **tiny.get(name, {}))
    gan.nets.eval()
    image_to_image = isinstance(gan, ImageToImage | SameSizeImage)
    keys = {"input": "digits", "direction": "a2b"} if isinstance(gan, ImageToImage) else {"input": "digits"}
    entry = entry_for(type(gan), **(keys if image_to_image else {}))
    sources = {"digits": create_source("digits")} if image_to_image else {}
    request = FakeRequest(gan, entry, "train", 2, 5, 7, 2, sources, size=12)
    firsts, rows, images = [], [], []
    for first, batch, batch_rows in gan.corpus_fakes(request):
        firsts.append(first)
        images.append(batch)
        rows += batch_rows
    x = torch.cat(images)
    shape = (gan.image_shape[0], 12, 12) if isinstance(gan, SameSizeImage) else gan.image_shape  # the corpus size
    sizes = [len(b) for b in images]
    assert firsts == [2 + sum(sizes[:i]) for i in range(len(sizes))]  # consecutive batches, in index order
    assert x.shape == (3, *shape) and len(rows) == 3
    assert all(("seed" in r) != image_to_image for r in rows)  # a seed per noise fake, a source image otherwise
