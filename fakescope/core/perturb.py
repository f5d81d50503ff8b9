"""Perturbations of ``uint8 [H, W, C]`` images: JPEG re-encoding, Gaussian blur, Gaussian noise.

One implementation, used by corpus recipes (applied to real and fake images alike), the detectors' training
augmentation and ``fakescope bench``, so a "JPEG 75" means the same bytes everywhere. Resizing is
:func:`fakescope.core.imageio.resize` (area filter down, cubic up), the one every layer uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .imageio import encode_jpeg

#: Perturbation kind → the name of its one parameter (as written in recipes).
PERTURBATIONS = {"blur": ("sigma",), "noise": ("sigma",), "jpeg": ("quality",)}

@dataclass(frozen=True)
class Perturbation:
    kind: str  # blur, noise or jpeg
    value: float  # blur/noise: sigma in 8-bit levels (noise) or pixels (blur); jpeg: quality

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}"


def perturbation_problem(kind: str, value) -> str | None:
    """Why ``kind`` with ``value`` is not a valid perturbation (``"quality 150: expected ..."``), or None."""
    if kind not in PERTURBATIONS:
        return f"kind {kind!r}: expected one of {', '.join(PERTURBATIONS)}"
    if kind == "jpeg" and not (isinstance(value, int) and 1 <= value <= 100):
        return f"quality {value}: expected an integer 1 .. 100"
    if kind in ("blur", "noise") and not (isinstance(value, int | float) and 0 < value <= 100):
        return f"sigma {value}: expected 0 < sigma <= 100"
    return None


def parse_perturbation(text: str) -> Perturbation:
    """``"jpeg:75"``, ``"blur:1.5"``, ``"noise:2"`` → a checked :class:`Perturbation` (ValueError otherwise)."""
    kind, _, raw = text.strip().partition(":")
    try:
        value = int(raw) if kind == "jpeg" else float(raw)
    except ValueError:
        value = raw
    problem = perturbation_problem(kind, value) if raw else f"expected KIND:VALUE ({', '.join(PERTURBATIONS)})"
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
    raise ValueError(f"unknown perturbation {p.kind!r}")
