"""Real image sources: images nobody generated, bundled offline or read from the user's folders.

``digits``  scikit-learn's 1,797 8×8 handwritten digits (white ink on black, 17 gray levels).
``faces``   scikit-image's LFW subset: the 100 real 25×25 gray faces (the 100 non-faces are left out).
``photos``  random square crops of real photographs bundled with scikit-image and scikit-learn.
``paintings``  the same photographs rendered by OpenCV's non-photorealistic ``cv2.stylization`` filter
            (a derived, painting-like domain for image translation); crops as for ``photos``.
``photo-patches``, ``painting-patches``  the same at native resolution: windows of the requested size, never
            resized (``photos`` and ``paintings`` crops are area-downscaled from larger windows).
``folder:PATH``  every readable image under PATH (recursive); unreadable files are skipped and counted.
``enlarged:NAME``  real photographs of a crops source (``debian-photos``, ``photo-patches``..., or
            ``folder:PATH``) enlarged by bilinear, bicubic or Lanczos interpolation: real images a detector should
            not flag.

Every source has a fixed split of its items into train/val/test (seeded by the source, not the caller), so
two corpora built from one source never put the same real image into different splits. Photos are split by
photograph: test crops come from photographs that no training crop saw. A ``folder:`` source orders its files by
a hash of their path and cuts that order at 70% and 85%: a file added or removed moves at most a file or two
across a boundary, so corpora built from the folder before and after share no more than those between splits.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from fakescope.core import optional
from fakescope.core.corpus import SPLITS
from fakescope.core.formats import IMAGE_FORMATS
from fakescope.core.imageio import IMAGE_SUFFIXES, ImageReadError, read_image, resize, set_channels, to_tensor
from fakescope.core.registry import Registry
from fakescope.core.seeding import numpy_rng
from fakescope.core.walk import walk

if TYPE_CHECKING:  # torch loads with the first image drawn: listing and checking recipes never need it
    import torch

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
    #: How items are split into train/val/test (recorded where it is not the usual one: a change is seen on
    #: resume and regeneration)
    split_scheme: str = "permutation"

    @abstractmethod
    def item_ids(self) -> list[str]: ...

    @abstractmethod
    def load_item(self, index: int) -> np.ndarray: ...

    def _split_order(self) -> np.ndarray:
        """The items in the order the split cuts: the first 70% train, the next 15% val, the rest test."""
        return np.random.default_rng(_SPLIT_SEED).permutation(len(self.item_ids()))

    @cached_property
    def _split_of(self) -> np.ndarray:
        n = len(self.item_ids())
        order = self._split_order()
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
        import torch

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
        for found in walk(self.root, IMAGE_SUFFIXES, content=("image",)):
            p = Path(found.path)
            if found.error is not None:
                self.skipped.append(str(p))
                continue
            try:  # header only: cheap, and enough to skip non-images and unreadable files up front
                with Image.open(p, formats=IMAGE_FORMATS) as im:
                    im.size  # noqa: B018
                paths.append(p)
            except (OSError, ValueError, SyntaxError):
                self.skipped.append(str(p))
        if not paths:
            raise ValueError(f"folder source {str(self.root)!r} holds no images")
        return paths

    def item_ids(self) -> list[str]:
        return [str(p.relative_to(self.root)) for p in self._paths]

    split_scheme = "path-hash"

    def _split_order(self) -> np.ndarray:
        """Ordered by a hash of each file's path under the folder: a file added or removed moves at most a file or
        two across a split boundary (a permutation of the sorted list would move many)."""
        keys = [hashlib.sha256(f"{_SPLIT_SEED}:{name}".encode()).digest() for name in self.item_ids()]
        return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)

    def load_item(self, index: int) -> np.ndarray:
        try:
            return read_image(self._paths[index])
        except ImageReadError as exc:
            raise ImageReadError(f"{self._paths[index]}: {exc}") from None


def split_schemes(specs) -> dict[str, str]:
    """``{spec: scheme}`` for the sources among ``specs`` that split their items in another than the usual way
    (``folder:`` sources): what corpus builds and GAN runs record, so that a change of scheme is seen."""
    schemes = {spec: create_source(spec).split_scheme for spec in dict.fromkeys(specs)}
    return {spec: scheme for spec, scheme in schemes.items() if scheme != RealSource.split_scheme}


def create_source(spec: str) -> RealSource:
    """A source from its spec: a registered name (``digits``), ``folder:PATH`` or ``enlarged:SPEC``."""
    if spec.startswith("folder:"):
        return FolderSource(spec.split(":", 1)[1])
    if spec.startswith("enlarged:"):
        inner = spec.split(":", 1)[1]
        if inner.startswith("enlarged:"):
            raise ValueError(f"source {spec!r}: a photograph is enlarged once; give enlarged:NAME")
        if inner.startswith("folder:"):  # windows of your own photographs
            return EnlargedSource(FolderSource(inner.split(":", 1)[1], crops=True))
        try:
            return EnlargedSource(create_source(inner))
        except KeyError as exc:
            raise KeyError(f"source {spec!r}: {exc.args[0]}") from None
    return SOURCES.get(spec)()


def source_folder(spec: str) -> Path | None:
    """The folder a ``folder:PATH`` (or ``enlarged:folder:PATH``) source reads, else None (bundled data)."""
    spec = spec.removeprefix("enlarged:")
    return Path(spec.split(":", 1)[1]) if spec.startswith("folder:") else None


#: Real photographs that Debian packages install (``make data``), listed one by one: the packages also hold
#: artwork, logos, renders and charts, which are left out. Each entry: package, path under its root, split.
#: The split is by photograph and fixed here (no training window comes from a val or test photograph).
#: Few of them show people and none is a portrait: real faces are not available offline in quantity.
_DEBIAN_ROOTS = {
    "lomiri-wallpapers-16.04": "/usr/share/backgrounds",
    "mate-backgrounds": "/usr/share/backgrounds/mate",
    "plasma-workspace-wallpapers": "/usr/share/wallpapers",
    "opencv-doc": "/usr/share/doc/opencv-doc/examples",
}
_DEBIAN_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("lomiri-wallpapers-16.04", "Bridge_by_Sander_Klootwijk.jpg", "train"),
    ("lomiri-wallpapers-16.04", "Dragonfly_by_Bolly.jpg", "test"),
    ("lomiri-wallpapers-16.04", "Picture_0B_by_freespace.jpg", "train"),
    ("lomiri-wallpapers-16.04", "Picture_1A_by_freespace.jpg", "train"),
    ("lomiri-wallpapers-16.04", "Wine_by_Jakkub_Mede.jpg", "val"),
    ("lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi.jpg", "train"),
    ("lomiri-wallpapers-16.04", "free_by_Peter_Nerlich.jpg", "train"),
    ("lomiri-wallpapers-16.04", "friends_by_Aitzol_Berasategi.jpg", "train"),
    ("lomiri-wallpapers-16.04", "greentock_by_Peter_Nerlich.jpg", "train"),
    ("lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi.jpg", "train"),
    ("lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi.jpg", "val"),
    ("lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt.jpg", "train"),
    ("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi.jpg", "test"),
    ("mate-backgrounds", "nature/Aqua.jpg", "train"),
    ("mate-backgrounds", "nature/Blinds.jpg", "train"),
    ("mate-backgrounds", "nature/Dune.jpg", "train"),
    ("mate-backgrounds", "nature/FreshFlower.jpg", "train"),
    ("mate-backgrounds", "nature/Garden.jpg", "test"),
    ("mate-backgrounds", "nature/GreenMeadow.jpg", "train"),
    ("mate-backgrounds", "nature/LadyBird.jpg", "val"),
    ("mate-backgrounds", "nature/RainDrops.jpg", "train"),
    ("mate-backgrounds", "nature/Storm.jpg", "test"),
    ("mate-backgrounds", "nature/TwoWings.jpg", "train"),
    ("mate-backgrounds", "nature/Wood.jpg", "val"),
    ("mate-backgrounds", "nature/YellowFlower.jpg", "train"),
    ("plasma-workspace-wallpapers", "BytheWater/contents/images/2560x1600.jpg", "train"),
    ("plasma-workspace-wallpapers", "ColdRipple/contents/images/2560x1600.jpg", "train"),
    ("plasma-workspace-wallpapers", "ColorfulCups/contents/images/2560x1600.jpg", "test"),
    ("plasma-workspace-wallpapers", "DarkestHour/contents/images/2560x1600.jpg", "train"),
    ("plasma-workspace-wallpapers", "EveningGlow/contents/images/2560x1600.jpg", "test"),
    ("plasma-workspace-wallpapers", "FallenLeaf/contents/images/2560x1600.jpg", "train"),
    ("plasma-workspace-wallpapers", "Grey/contents/images/2560x1600.jpg", "val"),
    ("plasma-workspace-wallpapers", "Kite/contents/images/2560x1600.jpg", "val"),
    ("plasma-workspace-wallpapers", "OneStandsOut/contents/images/2560x1600.jpg", "train"),
    ("plasma-workspace-wallpapers", "Path/contents/images/2560x1600.jpg", "test"),
    ("plasma-workspace-wallpapers", "summer_1am/contents/images/2560x1600.jpg", "train"),
    ("opencv-doc", "data/aero1.jpg", "train"),
    ("opencv-doc", "data/aero3.jpg", "test"),
    ("opencv-doc", "data/aloeL.jpg", "train"),
    ("opencv-doc", "data/baboon.jpg", "train"),
    ("opencv-doc", "data/board.jpg", "train"),
    ("opencv-doc", "data/building.jpg", "test"),
    ("opencv-doc", "data/butterfly.jpg", "val"),
    ("opencv-doc", "data/ela_original.jpg", "train"),
    ("opencv-doc", "data/fruits.jpg", "test"),
    ("opencv-doc", "data/graf1.png", "train"),
    ("opencv-doc", "data/home.jpg", "val"),
    ("opencv-doc", "data/left.jpg", "train"),
    ("opencv-doc", "data/leuvenA.jpg", "train"),
    ("opencv-doc", "data/licenseplate_motion.jpg", "train"),
    ("opencv-doc", "data/messi5.jpg", "test"),
    ("opencv-doc", "data/orange.jpg", "train"),
    ("opencv-doc", "data/smarties.png", "train"),
    ("opencv-doc", "data/squirrel_cls.jpg", "train"),
    ("opencv-doc", "data/stuff.jpg", "train"),
    ("opencv-doc", "alphamat/input_images/plant.jpg", "val"),
    ("opencv-doc", "hfs/data/000.jpg", "train"),
    ("opencv-doc", "hfs/data/001.jpg", "test"),
    ("opencv-doc", "hfs/data/002.jpg", "train"),
    ("opencv-doc", "text/scenetext01.jpg", "train"),
    ("opencv-doc", "text/scenetext02.jpg", "train"),
    ("opencv-doc", "text/scenetext03.jpg", "test"),
    ("opencv-doc", "text/scenetext04.jpg", "train"),
    ("opencv-doc", "text/scenetext05.jpg", "val"),
    ("opencv-doc", "text/scenetext06.jpg", "train"),
    ("opencv-doc", "data/rubberwhale1.png", "train"),
)


class MissingDataError(ValueError):
    """A source whose files are installed by ``make data`` and are not there."""


@SOURCES.register
class DebianPhotosSource(RealSource):
    """Real photographs at native resolution (nature, cities, objects, aerial views; 259 px to 5312 px) from
    the Debian packages in ``_DEBIAN_ROOTS``, which ``make data`` installs (the optional resource ``debian-photos``).
    Windows of the requested size, never resized: the scale at which ``fakescope score`` sees a photograph. Split by
    photograph, fixed."""

    name = "debian-photos"
    crops = True
    native = True

    def item_ids(self) -> list[str]:
        return [f"{package}:{path}" for package, path, _ in _DEBIAN_PHOTOS]

    @cached_property
    def _split_of(self) -> np.ndarray:
        return np.array([SPLITS.index(split) for _, _, split in _DEBIAN_PHOTOS], dtype=np.int64)

    def path(self, index: int) -> Path:
        package, rel, _ = _DEBIAN_PHOTOS[index]
        path = optional.located("debian-photos", Path(_DEBIAN_ROOTS[package]) / rel)  # an empty root when hidden
        if not path.is_file():
            raise MissingDataError(f"source {self.name!r} needs the Debian package {package!r} ({path} is "
                                   f"missing): run `make data` (it installs {', '.join(_DEBIAN_ROOTS)})")
        return path

    @cached_property
    def _cache(self) -> dict[int, np.ndarray]:
        return {}

    @cached_property
    def _shapes(self) -> dict[int, tuple[int, int]]:
        return {}

    def _item_shape(self, item: int) -> tuple[int, int]:
        if item not in self._shapes:  # header only: drawing window positions needs no pixels
            with Image.open(self.path(item), formats=IMAGE_FORMATS) as im:
                w, h = im.size
                if (im.getexif() or {}).get(0x0112, 1) in (5, 6, 7, 8):  # EXIF-rotated by a quarter turn
                    w, h = h, w
            self._shapes[item] = (h, w)
        return self._shapes[item]

    def load_item(self, index: int) -> np.ndarray:
        if index not in self._cache:
            image = read_image(self.path(index))  # uint8 [H, W, C], upright, RGB (or gray)
            if image.shape[2] == 1:
                image = np.repeat(image, 3, axis=2)
            self._cache[index] = np.ascontiguousarray(image[..., :3])
        return self._cache[index]


#: How ``enlarged:`` sources enlarge: each image is a smaller square enlarged ``s`` times, ``s`` drawn uniformly
#: from this range, by one of these interpolations (OpenCV's flags), the ones image editors and browsers use.
ENLARGE_RANGE = (1.25, 4.0)
ENLARGE_INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def enlarge(image: np.ndarray, size: int, small: int, interpolation: str) -> np.ndarray:
    """A square ``uint8 [S, S, C]`` (``S >= small``) → ``[size, size, C]``: area-shrunk to ``small`` px when larger,
    then enlarged to ``size >= small`` by one of :data:`ENLARGE_INTERPOLATIONS`."""
    side = image.shape[0]
    if image.shape[1] != side or not small <= side or not 1 <= small <= size:
        raise ValueError(f"enlarge: expected a square image of side >= {small} and 1 <= {small} <= {size}; "
                         f"got {image.shape[0]}x{image.shape[1]}")
    if interpolation not in ENLARGE_INTERPOLATIONS:
        raise ValueError(f"enlarge: unknown interpolation {interpolation!r}; known: "
                         f"{', '.join(sorted(ENLARGE_INTERPOLATIONS))}")
    if side != small:
        image = cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA)
    out = cv2.resize(image, (size, size), interpolation=ENLARGE_INTERPOLATIONS[interpolation])
    return out.reshape(size, size, -1)


class EnlargedSource(RealSource):
    """``enlarged:NAME``: real photographs enlarged the way images are enlarged outside any generator.

    Each image is a smaller square enlarged to the requested size by a classical interpolation
    (:data:`ENLARGE_INTERPOLATIONS`), ``s`` times (:data:`ENLARGE_RANGE`); the smaller square is, with even odds, a
    native window of side ``size / s`` of a photograph of the inner crops source, or the ``size`` window
    area-shrunk by ``s`` (as the super-resolution fakes of the ``upscaler`` family are made, with a network in
    place of the interpolation). They are still real photographs: a detector that flags them has learnt that an
    image was enlarged, not that it was generated. Items, ids and split are the inner source's; ``enlarged:folder:PATH``
    enlarges windows of your own photographs."""

    crops = True
    native = True

    def __init__(self, inner: RealSource) -> None:
        if not inner.crops:
            raise ValueError(f"source 'enlarged:{inner.name}' needs a source of crops (photographs such as "
                             f"debian-photos or photo-patches); {inner.name!r} draws whole images")
        self.inner = inner
        self.name = f"enlarged:{inner.name}"
        self.split_scheme = inner.split_scheme

    def item_ids(self) -> list[str]:
        return self.inner.item_ids()

    def load_item(self, index: int) -> np.ndarray:
        return self.inner.load_item(index)

    @cached_property
    def _split_of(self) -> np.ndarray:
        return self.inner._split_of

    def _item_shape(self, item: int) -> tuple[int, int]:
        return self.inner._item_shape(item)

    def _crop_pick(self, pool: list[int], seed: int, split: str, i: int, size: int) -> tuple[int, tuple]:
        rng = numpy_rng(seed, "crop", self.name, split, i)
        item = pool[int(rng.integers(len(pool)))]
        h, w = self._item_shape(item)
        small = max(1, round(size / float(rng.uniform(*ENLARGE_RANGE))))
        shrunk = bool(rng.integers(2))
        side = min(size if shrunk else small, h, w)
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        interpolation = sorted(ENLARGE_INTERPOLATIONS)[int(rng.integers(len(ENLARGE_INTERPOLATIONS)))]
        return item, (y, x, side, side, min(small, side), interpolation)

    def _prepare(self, item: int, box: tuple | None, size: int, channels: int) -> tuple[np.ndarray, dict]:
        y, x, side, _, small, interpolation = box
        photo = self.load_item(item)
        image = enlarge(photo[y : y + side, x : x + side], size, small, interpolation)
        info = {"source": self.name, "item": self.item_ids()[item], "original_size": list(photo.shape[:2]),
                "crop": [y, x, side, side],
                "enlarged": {"from": small, "to": size, "interpolation": interpolation,
                             "window": "area-shrunk" if side != small else "native"}}
        if photo.shape[2] != channels:
            info["converted"] = f"{photo.shape[2]}ch->{channels}ch"
        return set_channels(image, channels), info
