"""``spectrum``: a linear classifier on frequency-domain features — no deep network.

Two feature sets, usable alone or together:

- ``fft``: Durall et al., "Watch your Up-Convolution: CNN Based Generative Deep Neural Networks are Failing to
  Reproduce Spectral Distributions" (CVPR 2020): grayscale → 2-D FFT → log magnitude → azimuthal average
  (the mean over each ring of integer radius) → a 1-D spectrum, min–max normalised per image.
- ``dct``: Frank et al., "Leveraging Frequency Analysis for Deep Fake Image Recognition" (ICML 2020):
  grayscale → 2-D type-II DCT → log absolute coefficients, flattened.

Features are standardised (as Frank et al. do per coefficient) and classified linearly, the regularisation
strength chosen by validation AP (:mod:`fakescope.detector.linear`, shared with ``probe``). Images are featurised
per ``crop``-sized tile at native resolution and their score is the mean of the tile scores, as for the neural
families.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from scipy.fft import dctn

from fakescope.core.config import check_ranges

from ..base import DETECTORS
from ..data import MAX_CROP, MIN_CROP, Augment
from ..linear import LinearDetector, check_head_settings

FEATURES = ("fft", "dct", "both")


@dataclass(frozen=True)
class SpectrumConfig:
    features: str = "both"  # fft (Durall azimuthal spectrum) | dct (Frank log-DCT) | both (concatenated)
    classifier: str = "logistic"  # logistic | svm (linear)
    C: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)  # inverse regularisation strengths; best validation AP wins
    crop: int = 32  # featurised window and scoring tile side, in pixels
    crops_per_image: int = 2  # augmented random crops drawn from each training image
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"unknown spectrum features {self.features!r}; known: {', '.join(FEATURES)}")
        check_head_settings("spectrum", self.classifier, self.C)
        check_ranges("spectrum", crop=(self.crop, MIN_CROP, MAX_CROP), crops_per_image=(self.crops_per_image, 1, None))


def _gray(image: np.ndarray) -> np.ndarray:
    """RGB ``uint8 [H, W, 3]`` → float64 ``[H, W]`` in [0, 1]."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0


def azimuthal_spectrum(gray: np.ndarray) -> np.ndarray:
    """``[S, S]`` → the log-magnitude spectrum averaged over rings of integer radius, min–max normalised."""
    s = gray.shape[0]
    mag = np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray))) + 1e-8)  # [S, S]
    yy, xx = np.indices(gray.shape)
    radius = np.hypot(yy - s // 2, xx - s // 2).astype(int).ravel()  # [S*S]
    n = radius.max() + 1
    profile = np.bincount(radius, weights=mag.ravel(), minlength=n) / np.bincount(radius, minlength=n)  # [R]
    lo, hi = profile.min(), profile.max()
    return (profile - lo) / (hi - lo) if hi > lo else np.zeros_like(profile)


def log_dct(gray: np.ndarray) -> np.ndarray:
    """``[S, S]`` → ``[S*S]`` log absolute DCT-II coefficients."""
    return np.log(np.abs(dctn(gray, type=2, norm="ortho")) + 1e-8).ravel()


def spectrum_features(window: np.ndarray, features: str) -> np.ndarray:
    """One RGB ``[S, S, 3]`` window → its 1-D feature vector."""
    gray = _gray(window)
    parts = []
    if features in ("fft", "both"):
        parts.append(azimuthal_spectrum(gray))
    if features in ("dct", "both"):
        parts.append(log_dct(gray))
    return np.concatenate(parts)


@DETECTORS.register
class SpectrumDetector(LinearDetector):
    family = "spectrum"
    Config = SpectrumConfig
    halvable = False  # a few thousand numbers: fp16 would cost accuracy and save nothing

    def n_features(self) -> int:
        s = self.config.crop
        n_fft = int(math.hypot(s // 2, s // 2)) + 1  # rings up to the farthest corner from the centre
        return {"fft": n_fft, "dct": s * s, "both": n_fft + s * s}[self.config.features]

    def feature_name(self) -> str:
        return f"{self.config.features} at crop {self.config.crop}"

    def featurize(self, windows: Sequence[np.ndarray], device: torch.device | str = "cpu") -> np.ndarray:
        """RGB windows ``[S, S, 3]`` → ``[N, F]`` (numpy on the CPU, whatever ``device``)."""
        return np.stack([spectrum_features(w, self.config.features) for w in windows])

    def complexity(self) -> dict[str, int]:
        """Learned numbers, and an estimate of the multiply-accumulates per crop (FFT/DCT ≈ 2·N·log2 N each)."""
        s, f = self.config.crop, self.n_features()
        n = s * s
        transforms = {"fft": 1, "dct": 1, "both": 2}[self.config.features]
        macs = int(transforms * 2 * n * math.log2(max(n, 2)) + 2 * f)
        return {"parameters": 3 * f + 1, "macs_per_crop": macs, "crop": s}
