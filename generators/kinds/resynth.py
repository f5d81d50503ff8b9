"""Image → image of the same size (``resynth``): ``resynthesize(images)`` redraws a real image through a generator's
decoder, keeping its content and size and adding the decoder's up-sampling trace.

No direction and no second domain: a family trains on one real source (``--data``), and a corpus entry names the
real source it re-synthesises (``input``), drawn at the corpus size (or ``input_size``) from the same split as the
fake, so a test fake re-synthesises a test photograph. Each fake's manifest row names its source image and the
window it came from. On the CPU every image gets its own forward pass, so bytes do not depend on the batch.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..gan import GANFamily
from .image import from_inputs, one_pass_each

if TYPE_CHECKING:
    from ..corpus.batches import FakeRequest
    from ..recipes import FakeEntry


class SameSizeImage(GANFamily):
    """A generator that re-synthesises real images at their own size."""

    kind: ClassVar[str] = "resynth"

    @abstractmethod
    def resynthesize(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1], any H and W → ``[N, C, H, W]`` (eval mode, no grad)."""

    @classmethod
    def entry_problem(cls, entry: FakeEntry) -> str | None:
        if entry.input is None or entry.direction is not None:
            return (f": {cls.name} re-synthesises real images at their own size; give input = \"SOURCE\" "
                    "(the images it re-synthesises) and no direction")
        return None

    def corpus_fakes(self, request: FakeRequest) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
        """Re-syntheses of the entry's ``input`` windows ``start .. stop-1``, drawn at the corpus size."""
        return from_inputs(request, request.entry.input_size or request.size, self.image_shape[0],
                           lambda x: resynthesize_images(self, x.to(self.device), batch_size=request.batch_size))


def resynthesize_images(gan: SameSizeImage, images: torch.Tensor, *, batch_size: int = 16) -> torch.Tensor:
    """``images [N, C, H, W]`` → re-syntheses (float, on the CPU); one forward pass per image on the CPU."""
    return one_pass_each(gan.resynthesize, images, gan.device, batch_size=batch_size)


def run_padded(net: nn.Module, images: torch.Tensor, *, multiple: int, channels: int,
               forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``forward`` (default ``net``) in eval mode, no grad, over ``images [N, channels, H, W]`` (float32 on
    ``net``'s device), reflect-padded at the bottom and right to sides that are multiples of ``multiple``
    (replicated when the image is too small to reflect) and cropped back to ``H × W``."""
    if images.ndim != 4 or images.shape[1] != channels:
        raise ValueError(f"expected images [N, {channels}, H, W], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    x = images.to(next(net.parameters()).device, torch.float32)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = (forward or net)(x)
    finally:
        net.train(was_training)
    return out[..., :h, :w]
