"""Real image sources: images nobody generated, bundled offline or read from the user's folders.

``digits``  scikit-learn's 1,797 8×8 handwritten digits (white ink on black, 17 gray levels).
``faces``   scikit-image's LFW subset: the 100 real 25×25 gray faces (the 100 non-faces are left out).
``photos``  random square crops of real photographs bundled with scikit-image and scikit-learn.
``paintings``  the same photographs rendered by OpenCV's non-photorealistic ``cv2.stylization`` filter
            (a derived, painting-like domain for image translation); crops as for ``photos``.
``photo-patches``, ``painting-patches``  the same at native resolution: windows of the requested size, never
            resized (``photos`` and ``paintings`` crops are area-downscaled from larger windows).
``folder:PATH``  every readable image under PATH (recursive); unreadable files are skipped and counted.

Every source has a fixed split of its items into train/val/test (seeded by the source, not the caller), so
two corpora built from one source never put the same real image into different splits. Photos are split by
photograph: test crops come from photographs that no training crop saw.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fakescope.core.corpus import SPLITS
from fakescope.core.imageio import IMAGE_SUFFIXES, ImageReadError, read_image, resize, set_channels, to_tensor
from fakescope.core.registry import Registry
from fakescope.core.seeding import numpy_rng
from fakescope.core.walk import walk

SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
_SPLIT_SEED = 20240531  # fixed: a source's split never depends on the caller's seed


@dataclass
class SourceImages:
    """A batch drawn from a source: ``images [N, C, H, W]`` in [-1, 1] and one metadata dict per image."""

    images: torch.Tensor
    meta: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return self.images.shape[0]


class RealSource(ABC):
    """A set of real items with a fixed train/val/test split.

    Subclasses list their items and load one as ``uint8 [H, W, C]``. ``crops`` sources (photographs) draw
    random square crops, any number of them; other sources draw whole items, each at most once.
    """

    name: str = ""
    crops: bool = False
    native: bool = False  # crops only: windows of exactly the requested size, never resized

    @abstractmethod
    def item_ids(self) -> list[str]: ...

    @abstractmethod
    def load_item(self, index: int) -> np.ndarray: ...

    @cached_property
    def _split_of(self) -> np.ndarray:
        n = len(self.item_ids())
        order = np.random.default_rng(_SPLIT_SEED).permutation(n)
        n_train = max(1, round(n * SPLIT_FRACTIONS[0])) if n >= 3 else n
        n_val = max(1, round(n * SPLIT_FRACTIONS[1])) if n >= 3 else 0
        split = np.full(n, 2, dtype=np.int64)
        split[order[:n_train]] = 0
        split[order[n_train : n_train + n_val]] = 1
        return split

    def indices(self, split: str = "all") -> list[int]:
        """Item indices in ``split`` (``train``, ``val``, ``test`` or ``all``)."""
        if split == "all":
            return list(range(len(self.item_ids())))
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)} or 'all'")
        return [int(i) for i in np.flatnonzero(self._split_of == SPLITS.index(split))]

    def available(self, split: str = "all") -> int | None:
        """How many images ``split`` can yield (``None``: unlimited crops)."""
        return None if self.crops else len(self.indices(split))

    def draw(
        self, count: int | None, *, size: int, channels: int, split: str = "all", seed: int = 0, start: int = 0
    ) -> SourceImages:
        """Draw ``count`` images (``None``: every item) resized to ``size``×``size`` with ``channels``.

        Image ``start + i`` depends only on ``(seed, split, start + i)``, so slices can be drawn apart.
        """
        pool = self.indices(split)
        if not pool:
            raise ValueError(f"source {self.name!r} has no images in split {split!r}")
        if self.crops:
            if count is None:
                raise ValueError(f"source {self.name!r} yields unlimited crops: give a count")
            picks = [self._crop_pick(pool, seed, split, start + i, size) for i in range(count)]
        else:
            order = [pool[j] for j in numpy_rng(seed, "draw", self.name, split).permutation(len(pool))]
            count = len(pool) - start if count is None else count
            if start + count > len(order):
                raise ValueError(
                    f"source {self.name!r} has {len(order)} images in split {split!r}; "
                    f"asked for {start + count}"
                )
            picks = [(order[start + i], None) for i in range(count)]
        tensors, meta = [], []
        for item, box in picks:
            image, info = self._prepare(item, box, size, channels)
            tensors.append(to_tensor(image))
            meta.append(info)
        images = torch.stack(tensors) if tensors else torch.empty(0, channels, size, size)
        return SourceImages(images, meta)

    def _crop_pick(self, pool: list[int], seed: int, split: str, i: int, size: int) -> tuple[int, tuple]:
        rng = numpy_rng(seed, "crop", self.name, split, i)
        item = pool[int(rng.integers(len(pool)))]
        h, w = self._item_shape(item)
        lo = min(size, h, w)
        side = lo if self.native else int(rng.integers(lo, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        return item, (y, x, side, side)

    def _item_shape(self, item: int) -> tuple[int, int]:
        return self.load_item(item).shape[:2]

    def _prepare(self, item: int, box: tuple | None, size: int, channels: int) -> tuple[np.ndarray, dict]:
        image = self.load_item(item)
        h, w = image.shape[:2]
        info: dict = {"source": self.name, "item": self.item_ids()[item], "original_size": [h, w]}
        if box is None and h != w:  # centre square crop: never stretch
            side = min(h, w)
            box = ((h - side) // 2, (w - side) // 2, side, side)
        if box is not None:
            y, x, bh, bw = box
            image = image[y : y + bh, x : x + bw]
            info["crop"] = [y, x, bh, bw]
        if image.shape[0] != size:
            info["resized"] = [image.shape[0], size]
        if image.shape[2] != channels:
            info["converted"] = f"{image.shape[2]}ch->{channels}ch"
        image = resize(set_channels(image, channels), size)
        return image, info


SOURCES: Registry[type[RealSource]] = Registry("real source")


@SOURCES.register
class DigitsSource(RealSource):
    name = "digits"

    @cached_property
    def _images(self) -> np.ndarray:
        from sklearn.datasets import load_digits

        raw = load_digits().images  # [1797, 8, 8] in 0..16
        return (raw / 16.0 * 255.0).round().astype(np.uint8)[..., None]

    def item_ids(self) -> list[str]:
        return [f"digits/{i}" for i in range(len(self._images))]

    def load_item(self, index: int) -> np.ndarray:
        return self._images[index]


@SOURCES.register
class FacesSource(RealSource):
    name = "faces"

    @cached_property
    def _images(self) -> np.ndarray:
        from skimage.data import lfw_subset

        raw = lfw_subset()[:100]  # the first 100 are faces, the next 100 are not
        return (raw * 255.0).round().astype(np.uint8)[..., None]

    def item_ids(self) -> list[str]:
        return [f"lfw_subset/{i}" for i in range(len(self._images))]

    def load_item(self, index: int) -> np.ndarray:
        return self._images[index]


_PHOTOS = (
    "skimage:astronaut", "skimage:coffee", "skimage:chelsea", "skimage:rocket", "skimage:hubble_deep_field",
    "skimage:motorcycle", "skimage:camera", "skimage:coins", "skimage:moon", "skimage:clock",
    "skimage:brick", "skimage:grass", "skimage:gravel", "skimage:immunohistochemistry", "skimage:retina",
    "sklearn:china.jpg", "sklearn:flower.jpg",
)


@SOURCES.register
class PhotosSource(RealSource):
    name = "photos"
    crops = True

    def item_ids(self) -> list[str]:
        return list(_PHOTOS)

    @cached_property
    def _cache(self) -> dict[int, np.ndarray]:
        return {}

    def load_item(self, index: int) -> np.ndarray:
        if index not in self._cache:
            self._cache[index] = _load_bundled_photo(_PHOTOS[index])
        return self._cache[index]


#: The non-photorealistic filter that turns a photograph into a ``paintings`` item (OpenCV's parameters).
PAINTING_FILTER = {"filter": "cv2.stylization", "sigma_s": 60, "sigma_r": 0.45}


@SOURCES.register
class PaintingsSource(PhotosSource):
    """The ``photos`` photographs rendered as paintings by ``cv2.stylization`` (edge-preserving smoothing
    with darkened edges), filtered at full resolution before cropping. Items, ids and the train/val/test
    split are those of ``photos``: a painting of a test photograph is in the test split. Crops are drawn
    independently of ``photos`` crops (the two domains are unpaired).
    """

    name = "paintings"

    def load_item(self, index: int) -> np.ndarray:
        if index not in self._cache:
            import cv2

            bgr = cv2.cvtColor(_load_bundled_photo(_PHOTOS[index]), cv2.COLOR_RGB2BGR)
            painted = cv2.stylization(bgr, sigma_s=PAINTING_FILTER["sigma_s"], sigma_r=PAINTING_FILTER["sigma_r"])
            self._cache[index] = np.ascontiguousarray(cv2.cvtColor(painted, cv2.COLOR_BGR2RGB))
        return self._cache[index]

    def _prepare(self, item: int, box: tuple | None, size: int, channels: int) -> tuple[np.ndarray, dict]:
        image, info = super()._prepare(item, box, size, channels)
        return image, {**info, "derived_from": "photos", "filter": dict(PAINTING_FILTER)}


@SOURCES.register
class PhotoPatchesSource(PhotosSource):
    """The ``photos`` photographs at their native resolution: square windows of the requested size, never
    resized — the scale at which ``fakescope score`` tiles a large photograph (``photos`` crops a random side
    between the requested size and the whole photograph, and area-downscales it)."""

    name = "photo-patches"
    native = True


@SOURCES.register
class PaintingPatchesSource(PaintingsSource):
    """The ``paintings`` at native resolution, as ``photo-patches`` are to ``photos``."""

    name = "painting-patches"
    native = True


def _load_bundled_photo(key: str) -> np.ndarray:
    lib, name = key.split(":")
    if lib == "sklearn":
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name)
    elif name == "motorcycle":
        from skimage.data import stereo_motorcycle

        image = stereo_motorcycle()[0]
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


class FolderSource(RealSource):
    """Every readable image under a folder (walked by the rules of :mod:`fakescope.core.walk`: sorted, hidden names
    skipped, links followed, loops reported). Unreadable files are skipped and listed in ``skipped``."""

    def __init__(self, root: str | os.PathLike, crops: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"folder source {str(self.root)!r} is not a directory")
        self.name = f"folder:{self.root}"
        self.crops = crops
        self.skipped: list[str] = []

    @cached_property
    def _paths(self) -> list[Path]:
        paths = []
        for found in walk(self.root, IMAGE_SUFFIXES):
            p = Path(found.path)
            if found.error is not None:
                self.skipped.append(str(p))
                continue
            try:  # header only: cheap, and enough to skip non-images and unreadable files up front
                with Image.open(p) as im:
                    im.size  # noqa: B018
                paths.append(p)
            except (OSError, ValueError, SyntaxError):
                self.skipped.append(str(p))
        if not paths:
            raise ValueError(f"folder source {str(self.root)!r} holds no images")
        return paths

    def item_ids(self) -> list[str]:
        return [str(p.relative_to(self.root)) for p in self._paths]

    def load_item(self, index: int) -> np.ndarray:
        try:
            return read_image(self._paths[index])
        except ImageReadError as exc:
            raise ImageReadError(f"{self._paths[index]}: {exc}") from None


def create_source(spec: str) -> RealSource:
    """A source from its spec: a registered name (``digits``) or ``folder:PATH``."""
    if spec.startswith("folder:"):
        return FolderSource(spec.split(":", 1)[1])
    return SOURCES.get(spec)()

