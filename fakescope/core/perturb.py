"""Perturbations of ``uint8 [H, W, C]`` images: JPEG re-encoding, Gaussian blur, Gaussian noise, down-scaling,
cropping, and chains of them.

One implementation, used by corpus recipes (applied to real and fake images alike), the detectors' training
augmentation and ``fakescope bench``, so a "JPEG 75" means the same bytes everywhere. Resizing is
:func:`fakescope.core.imageio.resize` (area filter down, cubic up), the one every layer uses.

Written as text (``fakescope bench --perturb``, recipes): ``jpeg:75``, ``blur:1.5``, ``noise:2``; the geometric
kinds, for benchmarks only (a corpus keeps one image size): ``resize:0.5`` (down-scale by 0.5 and stay small),
``resample:0.5`` (down-scale by 0.5, then back up to the original size), ``crop:0.5`` (a window of half of each
side, at a position drawn from the seed); ``jpeg:75+resize:0.5`` is a chain, applied left to right. A grid
(:func:`parse_grid`) lists several at once: ``jpeg:100,90,75`` is three, ``jpeg:90,75+resize:0.5,0.25`` is the
four combinations, and :data:`GRIDS` names ready-made ones (``standard``, ``quick``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .imageio import encode_jpeg, resize

#: Perturbation kind → the name of its one parameter (as written in recipes).
PERTURBATIONS = {"blur": ("sigma",), "noise": ("sigma",), "jpeg": ("quality",)}
#: Kinds that change an image's size: benchmarks only, never a corpus recipe (a corpus keeps one size).
GEOMETRIC = {"resize": ("factor",), "resample": ("factor",), "crop": ("fraction",)}
ALL_KINDS = {**PERTURBATIONS, **GEOMETRIC}

@dataclass(frozen=True)
class Perturbation:
    kind: str  # blur, noise, jpeg, resize, resample or crop
    value: float  # blur/noise: sigma in pixels (blur) or 8-bit levels (noise); jpeg: quality; resize/resample:
    #               the scale factor (0, 1]; crop: the share of each side kept (0, 1]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}"


def perturbation_problem(kind: str, value) -> str | None:
    """Why ``kind`` with ``value`` is not a valid perturbation (``"quality 150: expected ..."``), or None."""
    if kind not in ALL_KINDS:
        return f"kind {kind!r}: expected one of {', '.join(ALL_KINDS)}"
    if kind == "jpeg" and not (isinstance(value, int) and 1 <= value <= 100):
        return f"quality {value}: expected an integer 1 .. 100"
    if kind in ("blur", "noise") and not (isinstance(value, int | float) and 0 < value <= 100):
        return f"sigma {value}: expected 0 < sigma <= 100"
    if kind in GEOMETRIC and not (isinstance(value, int | float) and 0.01 <= value <= 1):
        return f"{GEOMETRIC[kind][0]} {value}: expected 0.01 <= {GEOMETRIC[kind][0]} <= 1"
    return None


def parse_perturbation(text: str) -> Perturbation:
    """``"jpeg:75"``, ``"blur:1.5"``, ``"noise:2"`` → a checked :class:`Perturbation` (ValueError otherwise)."""
    kind, _, raw = text.strip().partition(":")
    try:
        value = int(raw) if kind == "jpeg" else float(raw)
    except ValueError:
        value = raw
    problem = perturbation_problem(kind, value) if raw else f"expected KIND:VALUE ({', '.join(ALL_KINDS)})"
    if problem:
        raise ValueError(f"perturbation {text!r}: {problem}")
    return Perturbation(kind, value)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """``uint8 [H, W, C]`` (C = 1 or 3) encoded as JPEG at ``quality`` and decoded again, same shape."""
    flags = cv2.IMREAD_UNCHANGED if image.shape[2] == 1 else cv2.IMREAD_COLOR
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(image, quality), np.uint8), flags)
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = decoded[..., ::-1]  # BGR → RGB
    return np.ascontiguousarray(decoded.reshape(image.shape))


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """``uint8 [H, W, C]`` blurred with a Gaussian of ``sigma`` pixels (kernel size from sigma), same shape."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma)).reshape(image.shape)


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``uint8 [H, W, C]`` plus Gaussian noise of ``sigma`` 8-bit levels drawn from ``rng``, rounded and clipped."""
    noisy = image.astype(np.float64) + rng.normal(0.0, float(sigma), image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def apply_perturbation(image: np.ndarray, p: Perturbation, rng: np.random.Generator) -> np.ndarray:
    """One perturbation of ``uint8 [H, W, C]``, the same law for real and fake images (``rng``: noise only)."""
    if p.kind == "blur":
        return gaussian_blur(image, p.value)
    if p.kind == "noise":
        return gaussian_noise(image, p.value, rng)
    if p.kind == "jpeg":
        return jpeg_roundtrip(image, int(p.value))
    if p.kind in ("resize", "resample"):
        return rescale(image, p.value, back=p.kind == "resample")
    if p.kind == "crop":
        return random_window(image, p.value, rng)
    raise ValueError(f"unknown perturbation {p.kind!r}")


def rescale(image: np.ndarray, factor: float, *, back: bool = False) -> np.ndarray:
    """``uint8 [H, W, C]`` down-scaled by ``factor`` (area filter; at least 8 px a side); with ``back``, scaled up
    again to ``[H, W]`` (cubic), which keeps the size but not the detail."""
    h, w = image.shape[:2]
    small = resize(image, (max(8, round(h * factor)), max(8, round(w * factor))))
    return resize(small, (h, w)) if back else small


def random_window(image: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A window of ``fraction`` of each side of ``uint8 [H, W, C]`` (at least 8 px), placed by ``rng``."""
    h, w = image.shape[:2]
    ch, cw = min(h, max(8, round(h * fraction))), min(w, max(8, round(w * fraction)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(image[y : y + ch, x : x + cw])


@dataclass(frozen=True)
class Chain:
    """Perturbations applied left to right (``jpeg:75+resize:0.5``); no step at all is the clean image."""

    steps: tuple[Perturbation, ...] = ()

    def __str__(self) -> str:
        return "+".join(map(str, self.steps)) or "none"

    def __bool__(self) -> bool:
        return bool(self.steps)

    def family(self) -> str:
        """What a degradation curve is drawn over: the kinds of the steps (``jpeg``, ``jpeg+resize``)."""
        return "+".join(s.kind for s in self.steps) or "none"


def apply_chain(image: np.ndarray, chain: Chain | Perturbation | None, rng: np.random.Generator) -> np.ndarray:
    """Every step of ``chain`` in turn (the same ``rng`` carries on from step to step)."""
    steps = chain.steps if isinstance(chain, Chain) else (chain,) if chain is not None else ()
    for p in steps:
        image = apply_perturbation(image, p, rng)
    return image


def parse_chain(text: str) -> Chain:
    """``"none"`` or ``"jpeg:75+resize:0.5"`` → a :class:`Chain` (ValueError naming the bad step)."""
    text = text.strip()
    if text.lower() in ("none", "clean", ""):
        return Chain()
    return Chain(tuple(parse_perturbation(step) for step in text.split("+")))


#: Named grids for ``fakescope bench --grid``.
GRIDS = {
    "standard": ("none", "jpeg:100,95,90,75,50,30", "resize:0.75,0.5,0.25", "resample:0.75,0.5,0.25",
                 "blur:0.5,1,2", "crop:0.75,0.5", "jpeg:75+resize:0.5", "resize:0.5+jpeg:75"),
    "quick": ("none", "jpeg:90,75,50", "resize:0.5", "blur:1", "jpeg:75+resize:0.5"),
}


def parse_grid(text: str) -> list[Chain]:
    """A named grid (:data:`GRIDS`) or one item with comma-separated values per step, expanded to every
    combination in order: ``"jpeg:90,75+resize:0.5,0.25"`` → jpeg:90+resize:0.5, jpeg:90+resize:0.25, ..."""
    import itertools

    name = text.strip().lower()
    if name in GRIDS:
        return [c for item in GRIDS[name] for c in parse_grid(item)]
    if name in ("none", "clean", ""):
        return [Chain()]
    options = []
    for step in text.strip().split("+"):
        kind, sep, values = step.strip().partition(":")
        if not sep or not values:
            raise ValueError(f"perturbation {step!r}: expected KIND:VALUE[,VALUE...] ({', '.join(ALL_KINDS)}) "
                             f"or a grid name ({', '.join(GRIDS)})")
        options.append([parse_perturbation(f"{kind}:{v}") for v in values.split(",")])
    return [Chain(tuple(combo)) for combo in itertools.product(*options)]
