"""Noise → image: a latent vector in, an image out (``vanilla``, ``progan``).

A family of this kind implements ``latent(generator)`` (one latent drawn from a CPU ``torch.Generator``) and
``generate(z)``. Corpus fakes have one seed per image (``image_seed(recipe seed, index, "fake", split)``),
recorded in their manifest row, so any single fake can be regenerated: ``sampling.generate_range`` over its
index, with those seeds, recomputes the fixed chunk it was generated in (a forward pass of one image alone can
differ in the last bits from the same image in its chunk).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import torch

from ..gan import GANFamily
from ..sampling import generate_range, image_seed

if TYPE_CHECKING:
    from ..corpus.batches import FakeRequest
    from ..recipes import FakeEntry


class NoiseToImage(GANFamily):
    """A GAN that generates images from latent vectors."""

    kind: ClassVar[str] = "noise"

    def latent(self, generator: torch.Generator) -> torch.Tensor:
        """One latent vector drawn from ``generator`` (CPU): standard normal, ``config.latent_dim`` long (a family
        with another prior overrides this)."""
        return torch.randn(self.config.latent_dim, generator=generator)

    @abstractmethod
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, latent]`` → images ``[N, C, H, W]`` in [-1, 1] (eval mode, no grad)."""

    @classmethod
    def entry_problem(cls, entry: FakeEntry) -> str | None:
        if entry.direction is not None or entry.input is not None or entry.input_split is not None:
            return f": direction, input and input_split only apply to image-to-image families, not {cls.name}"
        return None

    def corpus_fakes(self, request: FakeRequest) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
        def seed_of(i: int) -> int:
            return image_seed(request.seed, i, "fake", request.split)

        for first, images in generate_range(self, seed_of, request.start, request.stop,
                                            batch_size=request.batch_size):
            yield first, images, [{"seed": seed_of(first + j)} for j in range(len(images))]
