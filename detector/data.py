"""Training data for detectors: labeled images read from one or more corpora, and the forensic augmentation.

Augmentation follows Wang et al. (CNNDetection, CVPR 2020): Gaussian blur and JPEG re-encoding, each with its
own probability, applied identically to real and fake images, then a random crop and horizontal flip. Blur and
JPEG are those of :mod:`fakescope.core.perturb`, the same as corpus recipes and ``fakescope bench`` apply.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fakescope.core.config import check_ranges
from fakescope.core.corpus import CorpusError, read_manifest
from fakescope.core.corpus_import import ImageFolder, gather
from fakescope.core.imageio import ImageReadError, read_image
from fakescope.core.perturb import gaussian_blur, jpeg_roundtrip


@dataclass
class ImageSet:
    """RGB ``uint8 [H, W, 3]`` images with labels (0 real, 1 fake) and their manifest rows."""

    images: list[np.ndarray]
    labels: np.ndarray
    rows: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, keep: Sequence[int]) -> ImageSet:
        return ImageSet([self.images[i] for i in keep], self.labels[list(keep)],
                        [self.rows[i] for i in keep] if self.rows else [])

    @staticmethod
    def concat(sets: Sequence[ImageSet]) -> ImageSet:
        return ImageSet([im for s in sets for im in s.images],
                        np.concatenate([s.labels for s in sets]).astype(np.int64), [r for s in sets for r in s.rows])


class EmptySplitError(ValueError):
    """The corpora hold no image of the split asked for (not an unreadable one: that is a CorpusError)."""


def load_split(corpora: Sequence[str | os.PathLike], split: str,
               on_error: Callable[[str], None] | None = None) -> ImageSet:
    """Every image of ``split`` in the given corpora, in manifest order.

    An unreadable image raises :class:`CorpusError`, or, with ``on_error``, is reported there and left out.
    """
    images, labels, rows = [], [], []
    for corpus in corpora:
        for row in read_manifest(corpus):
            if not isinstance(row, dict) or row.get("split") != split:
                continue
            if row.get("label") not in (0, 1) or not isinstance(row.get("path"), str):
                raise CorpusError(f"{corpus}: manifest row without a path and a 0/1 label: {row}")
            path = Path(corpus) / row["path"]
            try:
                images.append(read_image(path))
            except ImageReadError as exc:
                if on_error is None:
                    raise CorpusError(f"{path}: {exc}") from None
                on_error(f"{path}: {exc}")
                continue
            labels.append(int(row["label"]))
            rows.append({**row, "corpus": str(corpus)})
    if not images:
        raise EmptySplitError(f"no {split!r} images in {', '.join(map(str, corpora))}")
    return ImageSet(images, np.asarray(labels, dtype=np.int64), rows)


def load_folders(folders: Sequence[ImageFolder], on_error: Callable[[str], None],
                 on_note: Callable[[str], None] | None = None) -> ImageSet:
    """Every readable image below plain folders of real images and of fakes (``fakescope bench --real/--fake``),
    walked, checked and deduplicated as ``corpus import`` does (:func:`fakescope.core.corpus_import.gather`);
    each row names its ``origin`` (the generator's name or the real folder's) and its file. Unreadable files go
    to ``on_error``; duplicates (kept once, not an error: scraped sets often hold some) to ``on_note``."""
    found, duplicates, pixels = gather(folders, on_error=on_error)
    for line in duplicates:
        (on_note or on_error)(f"{line} (left out)")
    if not found:
        raise ValueError(f"no readable images in {', '.join(str(f.path) for f in folders)}")
    rows = [{"origin": f.folder.origin, "label": f.folder.label, "corpus": str(f.folder.path),
             "path": Path(os.path.relpath(f.path, f.folder.path)).as_posix(), "source_file": f.path,
             "sha256": f.sha256, "format": f.format} for f in found]
    return ImageSet([pixels[f.path] for f in found], np.asarray([f.folder.label for f in found], dtype=np.int64),
                    rows)


def paired_reals(fakes: ImageSet, channels: int = 3) -> tuple[list[int], list[np.ndarray]]:
    """For each fake made from a real image (re-synthesis, image-to-image: its manifest row names the input draw),
    that real image exactly as the generator received it, drawn again from its source (which must be installed)
    and stored as the corpus stores images. Returns the indices in ``fakes`` that have one, and the real images.

    Rajan et al. 2025 ("aligned datasets"): a real image and its reconstruction differ only by the generator's
    trace, so training on such pairs leaves a detector nothing else to learn (no content, no framing)."""
    from fakescope.generators.sources import create_source

    from fakescope.core.corpus import read_record
    from fakescope.core.imageio import resize, set_channels, to_uint8

    sources: dict[str, object] = {}
    checked: set[str] = set()
    keep, reals = [], []
    for i, row in enumerate(fakes.rows):
        if fakes.labels[i] != 1 or not all(k in row for k in ("input", "input_seed", "input_split", "index")):
            continue
        corpus = str(row.get("corpus", ""))
        if corpus not in checked:  # the real is rebuilt as drawn: it must be stored as it is drawn, too
            recipe = read_record(corpus).get("recipe", {}) if corpus else {}
            if recipe.get("perturbations") or recipe.get("format", "png") != "png":
                raise ValueError(f"pairs=true: {corpus} stores its images perturbed or lossily encoded, which a "
                                 "real image drawn again would not be; pair on a PNG corpus without perturbations")
            checked.add(corpus)
        spec = row["input"]
        if spec not in sources:
            sources[spec] = create_source(spec)
        h, w = fakes.images[i].shape[:2]
        drawn = sources[spec].draw(1, size=int(row.get("input_size") or h), channels=channels,
                                   split=row["input_split"], seed=int(row["input_seed"]), start=int(row["index"]))
        real = to_uint8(drawn.images[0])  # [H, W, C]
        reals.append(np.ascontiguousarray(set_channels(resize(real, (h, w)), 3)))
        keep.append(i)
    return keep, reals


def paired_crops(real: np.ndarray, fake: np.ndarray, aug: Augment, size: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Training crops of a real image and its reconstruction under *identical* augmentation: the same draws
    (scaling, colour, blur, JPEG quality, flip, quarter turn, crop position, masked patches) for both."""
    crops = []
    for image in (real, fake):
        rng = np.random.default_rng(seed)
        crops.append(mask_patches(random_crop(augment(image, aug, rng), size, rng), aug, rng))
    return crops[0], crops[1]


#: Training crop and scoring tile sides every family accepts (every image is padded up to a tile at least).
MIN_CROP, MAX_CROP = 8, 1024


@dataclass(frozen=True)
class Augment:
    blur_prob: float = 0.1  # probability of a Gaussian blur with sigma ~ U(0, blur_sigma)
    blur_sigma: float = 3.0
    jpeg_prob: float = 0.1  # probability of JPEG re-encoding with quality ~ U(jpeg_quality)
    jpeg_quality: tuple[int, int] = (30, 100)
    flip: bool = True
    # the real-world recipe's additions (off by default: detectors trained before them are unchanged)
    scale_prob: float = 0.0  # probability of rescaling by a factor ~ U(scale_range), before blur/JPEG
    scale_range: tuple[float, float] = (0.5, 1.0)
    scale_methods: tuple[str, ...] = ("area",)  # interpolation, one drawn at random: area, linear, cubic, nearest
    #                                             (area only shrinks: an enlargement falls back to linear)
    jitter_prob: float = 0.0  # probability of a brightness/contrast/saturation change of up to ±jitter
    jitter: float = 0.2
    rot90: bool = False  # a random quarter turn (0-3)
    mask_prob: float = 0.0  # probability of masking up to mask_fraction of a crop's 16 px patches to mid-gray
    mask_fraction: float = 0.25

    def __post_init__(self) -> None:
        probs = ("blur_prob", "jpeg_prob", "scale_prob", "jitter_prob", "mask_prob", "mask_fraction")
        check_ranges("augment", **{k: (getattr(self, k), 0, 1) for k in probs}, blur_sigma=(self.blur_sigma, 0, 50),
                     jitter=(self.jitter, 0, 1), jpeg_quality_low=(self.jpeg_quality[0], 1, self.jpeg_quality[1]),
                     jpeg_quality_high=(self.jpeg_quality[1], self.jpeg_quality[0], 100),
                     scale_low=(self.scale_range[0], 0.05, self.scale_range[1]),
                     scale_high=(self.scale_range[1], self.scale_range[0], 8))
        unknown = [m for m in self.scale_methods if m not in _INTERPOLATION]
        if not self.scale_methods or unknown:
            raise ValueError(f"augment scale_methods {self.scale_methods}: expected some of "
                             f"{', '.join(_INTERPOLATION)}")


_INTERPOLATION = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
                  "nearest": cv2.INTER_NEAREST}

#: Named augmentation policies (``fakescope train --augment NAME``).
AUGMENT_POLICIES: dict[str, Augment] = {
    "basic": Augment(),  # CNNDetection's: blur and JPEG, each with probability 0.1, and flips
    # native crops of real photographs and their re-syntheses: every degradation a photograph meets on its way
    # to an auditor (down-scaling, blur, JPEG 30-100, colour edits, rotation), and patch masking so that no
    # single patch decides (NPR / SAFE)
    "realworld": Augment(blur_prob=0.3, jpeg_prob=0.5, scale_prob=0.3, jitter_prob=0.3, rot90=True, mask_prob=0.2),
    # the same, and half of all images (real and fake alike) resampled by 0.5-2x with area, bilinear or bicubic
    # interpolation: photographs reach an auditor resized far more often than not (figures, thumbnails, aligned
    # faces), and interpolation leaves periodic traces of its own that must not read as a generator's
    "resample": Augment(blur_prob=0.3, jpeg_prob=0.5, scale_prob=0.5, scale_range=(0.5, 2.0),
                        scale_methods=("area", "linear", "cubic"), jitter_prob=0.3, rot90=True, mask_prob=0.2),
}


def augment(image: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """Down-scale, colour jitter, blur, then JPEG, each with its probability (same law for both classes), then a
    random flip and quarter turn. Draws for a disabled step are never made, so a policy's stream is stable."""
    if aug.scale_prob > 0 and rng.random() < aug.scale_prob:
        factor = float(rng.uniform(*aug.scale_range))
        method = aug.scale_methods[int(rng.integers(len(aug.scale_methods)))] if len(aug.scale_methods) > 1 \
            else aug.scale_methods[0]
        if method == "area" and factor > 1:
            method = "linear"
        h, w = image.shape[:2]
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        image = cv2.resize(image, size, interpolation=_INTERPOLATION[method])
    if aug.jitter_prob > 0 and rng.random() < aug.jitter_prob:
        b, c, s = (1.0 + rng.uniform(-aug.jitter, aug.jitter, 3)).tolist()
        x = image.astype(np.float32)
        gray = x.mean(axis=2, keepdims=True)
        x = gray + (x - gray) * s  # saturation
        x = (x - x.mean()) * c + x.mean() * b  # contrast around the mean, then brightness
        image = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if aug.blur_prob > 0 and rng.random() < aug.blur_prob:
        sigma = float(rng.uniform(0.0, aug.blur_sigma))
        if sigma > 0.05:
            image = gaussian_blur(image, sigma)
    if aug.jpeg_prob > 0 and rng.random() < aug.jpeg_prob:
        image = jpeg_roundtrip(image, int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1)))
    if aug.flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if aug.rot90:
        image = np.rot90(image, int(rng.integers(4)))
    return np.ascontiguousarray(image)


def mask_patches(crop: np.ndarray, aug: Augment, rng: np.random.Generator, patch: int = 16) -> np.ndarray:
    """With ``mask_prob``, set a random share (up to ``mask_fraction``) of the crop's ``patch`` px cells to gray."""
    if aug.mask_prob <= 0 or rng.random() >= aug.mask_prob:
        return crop
    h, w = crop.shape[:2]
    cells = [(y, x) for y in range(0, h, patch) for x in range(0, w, patch)]
    n = int(rng.integers(1, max(2, int(len(cells) * aug.mask_fraction) + 1)))
    crop = crop.copy()
    for k in rng.choice(len(cells), size=min(n, len(cells)), replace=False):
        y, x = cells[int(k)]
        crop[y : y + patch, x : x + patch] = 128
    return crop


def sample_crops(images: Sequence[np.ndarray], idx: Sequence[int], aug: Augment, size: int,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Training crops of ``images[i]`` for ``i`` in ``idx``: :func:`augment` then :func:`random_crop`.

    The one place where training images are augmented; it never sees a label, so real and fake images are
    augmented by the same law.
    """
    return [mask_patches(random_crop(augment(images[i], aug, rng), size, rng), aug, rng) for i in idx]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size``×``size`` crop; smaller images are reflect-padded up to ``size`` first (never zero-padded)."""
    h, w = image.shape[:2]
    if h < size or w < size:
        image = cv2.copyMakeBorder(image, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
        h, w = image.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return image[y : y + size, x : x + size]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    if h < size or w < size:
        image = cv2.copyMakeBorder(image, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
        h, w = image.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return image[y : y + size, x : x + size]


def tiles(image: np.ndarray, size: int, max_tiles: int = 64) -> list[np.ndarray]:
    """Cover ``image`` with ``size``×``size`` tiles at native resolution (edge tiles overlap their neighbour).

    Images smaller than ``size`` give one reflect-padded tile. Past ``max_tiles``, an evenly spaced subset.
    """
    h, w = image.shape[:2]
    if h <= size and w <= size:
        return [center_crop(image, size)]
    return [center_crop(image[y : y + size, x : x + size], size) for y, x in tile_origins(h, w, size, max_tiles)]


def tile_origins(height: int, width: int, size: int, max_tiles: int = 64) -> list[tuple[int, int]]:
    """The ``(y, x)`` top-left corners of the tiles :func:`tiles` cuts, in its order (one ``(0, 0)`` tile for an
    image no larger than ``size``)."""
    boxes = [(y, x) for y in _starts(height, size) for x in _starts(width, size)]
    if len(boxes) > max_tiles:
        pick = np.linspace(0, len(boxes) - 1, max_tiles).round().astype(int)
        boxes = [boxes[i] for i in pick]
    return boxes


def tile_count(height: int, width: int, size: int, max_tiles: int = 64) -> int:
    """How many tiles :func:`tiles` gives an image of ``height``×``width``."""
    if height <= size and width <= size:
        return 1
    return min(len(_starts(height, size)) * len(_starts(width, size)), max_tiles)


def _starts(length: int, size: int) -> list[int]:
    if length <= size:
        return [0]
    n = -(-length // size)
    return [round(i * (length - size) / (n - 1)) for i in range(n)]
