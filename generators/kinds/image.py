"""Image → image between two domains A and B (``cyclegan``): ``translate(images, direction)``, ``a2b`` or ``b2a``.

Images keep their size. On the CPU every image gets its own forward pass (:func:`translate_images`), so a
translation is bit-identical whatever else shares the call (a batched convolution's floating-point result can
depend on the batch); on CUDA images share passes. Training draws two unpaired domains (``--domain-a``,
``--domain-b``); a corpus entry names the real source it translates (``input``) and the ``direction``, and each
fake's manifest row names the real image it was translated from.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from fakescope.core.seeding import derive_seed

from ..gan import GANFamily
from ..sources import create_source, split_schemes

if TYPE_CHECKING:
    from ..corpus.batches import FakeRequest
    from ..recipes import FakeEntry

DIRECTIONS = ("a2b", "b2a")
#: Crops drawn per domain when a crop source (``photos``, ``paintings``) is given no count.
DEFAULT_DOMAIN_CROPS = 2000


class ImageToImage(GANFamily):
    """A GAN that translates images between two domains, both ways."""

    kind: ClassVar[str] = "translate"
    directions: ClassVar[tuple[str, ...]] = DIRECTIONS

    @abstractmethod
    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1], any H and W → translated ``[N, C, H, W]`` (eval mode, no grad)."""

    @classmethod
    def entry_problem(cls, entry: FakeEntry) -> str | None:
        if entry.input is None or entry.direction is None:
            return (f": {cls.name} translates images; give input = \"SOURCE\" (the images it translates) "
                    "and direction = \"a2b\" or \"b2a\"")
        if entry.direction not in cls.directions:
            return f".direction {entry.direction!r}: expected one of {', '.join(cls.directions)}"
        return None

    def training_data(self, *, data: str, domain_a: str | None, domain_b: str | None, count: int | None,
                      seed: int) -> tuple[Any, dict]:
        """Two unpaired domains, ``{"a": [Na, C, H, W], "b": [Nb, C, H, W]}``, drawn at the config's ``load_size``
        (cropped to ``image_size`` while training) when it has one."""
        if domain_a is None or domain_b is None:
            raise ValueError(f"{self.name} translates between two domains: give --domain-a and --domain-b")
        c, s, _ = self.image_shape
        load = getattr(self.config, "load_size", 0) or s
        images, counts = draw_domains(domain_a, domain_b, count=count, size=load, channels=c, seed=seed)
        schemes = split_schemes([domain_a, domain_b])
        return images, {"data": f"{domain_a} <-> {domain_b}", "count": counts, "domain_a": domain_a,
                        "domain_b": domain_b, **({"splits": schemes} if schemes else {})}

    def corpus_fakes(self, request: FakeRequest) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
        """Translations of the entry's ``input`` images ``start .. stop-1``, drawn at the generator's native size
        (or the entry's ``input_size``)."""
        c, h, _ = self.image_shape
        return from_inputs(request, request.entry.input_size or h, c, lambda x: translate_images(
            self, x.to(self.device), request.entry.direction, batch_size=request.batch_size))


def from_inputs(request: FakeRequest, size: int, channels: int,
                make: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
    """Fakes made from real images: the entry's ``input`` images ``start .. stop-1`` of ``request``, drawn at
    ``size`` from the fake's split (or the entry's ``input_split``) in batches, turned into fakes by ``make``
    (``[B, C, size, size]`` → ``[B, C, H, W]``); each row names the real image and window it came from."""
    entry = request.entry
    source = request.sources[entry.input]
    split = entry.input_split or request.split
    seed = input_seed(request.seed, entry)
    for base in range(request.start, request.stop, request.batch_size):
        drawn = source.draw(min(request.batch_size, request.stop - base), size=size, channels=channels,
                            split=split, seed=seed, start=base)
        yield base, make(drawn.images), [
            {"input": entry.input, "input_split": split, "input_seed": seed, "direction": entry.direction,
             "input_size": entry.input_size, "source_image": m["item"], "crop": m.get("crop"),
             **({"enlarged": m["enlarged"]} if "enlarged" in m else {})}
            for m in drawn.meta
        ]


def one_pass_each(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, device: torch.device, *,
                  batch_size: int = 16) -> torch.Tensor:
    """``run`` over ``images [N, C, H, W]`` → float results on the CPU. On the CPU each image gets its own forward
    pass, so its bytes do not depend on what else is in the call; on CUDA ``batch_size`` images share one."""
    chunk = 1 if device.type == "cpu" else max(1, batch_size)
    parts = [run(images[i : i + chunk]).float().cpu() for i in range(0, len(images), chunk)]
    return torch.cat(parts) if parts else images.new_empty((0, *images.shape[1:])).float()


def input_seed(seed: int, entry: FakeEntry) -> int:
    """The draw seed of an image-to-image entry's inputs (apart from the real entries' draws)."""
    return derive_seed(seed, "input", entry.name)


def check_translator(gan: GANFamily, direction: str) -> None:
    """Raise ``ValueError`` unless ``gan`` translates images and ``direction`` is one of its directions."""
    if not isinstance(gan, ImageToImage):
        raise ValueError(f"{gan.name} is not an image-to-image family (it generates from noise)")
    if direction not in gan.directions:
        raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(gan.directions)}")


def translate_images(gan: ImageToImage, images: torch.Tensor, direction: str, *, batch_size: int = 16
                     ) -> torch.Tensor:
    """``images [N, C, H, W]`` in [-1, 1] → translations ``[N, C, H, W]`` (float, on the CPU).

    Image ``i``'s result depends on image ``i`` alone on the CPU (one forward pass each); on CUDA
    ``batch_size`` images share a pass.
    """
    check_translator(gan, direction)
    return one_pass_each(lambda x: gan.translate(x, direction), images, gan.device, batch_size=batch_size)


def draw_domains(
    domain_a: str, domain_b: str, *, count: int | None, size: int, channels: int, seed: int, split: str = "train"
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Training images of two unpaired domains given as source specs (``photos``, ``paintings``,
    ``folder:PATH``): ``({"a": [Na, C, H, W], "b": [Nb, C, H, W]}, {"a": Na, "b": Nb})``.

    ``count`` images per domain; ``None`` takes a whole folder's split, or :data:`DEFAULT_DOMAIN_CROPS` crops.
    """
    data, counts = {}, {}
    for key, spec in (("a", domain_a), ("b", domain_b)):
        source = create_source(spec)
        n = count if count is not None or not source.crops else DEFAULT_DOMAIN_CROPS
        data[key] = source.draw(n, size=size, channels=channels, split=split, seed=seed).images
        counts[key] = len(data[key])
    return data, counts
