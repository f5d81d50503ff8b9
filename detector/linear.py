"""Detectors that are a linear classifier on fixed features: what ``spectrum``, ``probe`` and ``surprisal`` share.

A family subclasses :class:`LinearDetector` and says how a tile becomes a feature vector (:meth:`featurize`,
:meth:`n_features`). Training draws ``crops_per_image`` augmented crops of every training image, featurises them,
standardises the features (scikit-learn's ``StandardScaler``) and fits ``LogisticRegression`` or a linear SVM
(``LinearSVC``) for each regularisation strength in ``C``; the one whose validation images (tiled at native
resolution and scored as the mean of their tiles, exactly as at scoring time) reach the best AP wins.
Everything learned is a plain array — scaler mean and scale, weights, bias — stored in safetensors, so loading
never unpickles anything.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from fakescope.core.progress import Progress
from fakescope.core.seeding import numpy_rng

from .base import Detector
from .data import ImageSet, sample_crops
from .metrics import summarize

CLASSIFIERS = ("logistic", "svm")


def check_head_settings(family: str, classifier: str, C: tuple[float, ...]) -> None:
    """What every linear-head config checks: a known classifier and at least one regularisation strength."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown {family} classifier {classifier!r}; known: {', '.join(CLASSIFIERS)}")
    if not C:
        raise ValueError(f"{family} needs at least one C (inverse regularisation strength)")
HEAD_KEYS = ("scaler.mean", "scaler.scale", "linear.weight", "linear.bias")


@dataclass
class LinearHead:
    """``sigmoid(w · (x − mean) / scale + b)`` over ``F`` features."""

    mean: np.ndarray  # [F] StandardScaler.mean_
    scale: np.ndarray  # [F] StandardScaler.scale_
    coef: np.ndarray  # [F] classifier weights
    intercept: float = 0.0

    @classmethod
    def identity(cls, n: int) -> LinearHead:
        return cls(np.zeros(n), np.ones(n), np.zeros(n))

    def probs(self, x: np.ndarray) -> np.ndarray:
        """``[N, F]`` features → ``[N]`` probabilities (float64)."""
        return expit(self.logits((np.asarray(x, dtype=np.float64) - self.mean) / self.scale))

    def logits(self, standardised: np.ndarray) -> np.ndarray:
        """``[N, F]`` → ``[N]``: ``w · x + b`` row by row (a matrix product's rounding depends on N; this does not,
        so a tile's score does not depend on the tiles scored with it)."""
        return (standardised * self.coef).sum(axis=1) + self.intercept

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"scaler.mean": torch.from_numpy(self.mean), "scaler.scale": torch.from_numpy(self.scale),
                "linear.weight": torch.from_numpy(self.coef),
                "linear.bias": torch.tensor([self.intercept], dtype=torch.float64)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], n: int, what: str) -> LinearHead:
        """The head stored by :meth:`tensors`; ``n`` features expected (``what`` names them in the error)."""
        for key in HEAD_KEYS:
            if key not in tensors:
                raise KeyError(f"missing {key}")
        arrays = {k: tensors[k].double().numpy() for k in HEAD_KEYS}
        if any(arrays[k].shape != (n,) for k in HEAD_KEYS[:3]):
            raise ValueError(f"expected {n} features for {what}")
        if arrays["linear.bias"].shape != (1,):
            raise ValueError(f"linear.bias: expected one number, got shape {arrays['linear.bias'].shape}")
        return cls(arrays["scaler.mean"], arrays["scaler.scale"], arrays["linear.weight"],
                   float(arrays["linear.bias"][0]))


class LinearDetector(Detector):
    """A family whose tiles are scored by a :class:`LinearHead` on :meth:`featurize`'s vectors.

    Its ``Config`` has ``crop``, ``crops_per_image``, ``C``, ``classifier`` and ``augment``.
    """

    def __init__(self, config) -> None:
        super().__init__(config)
        self.head = LinearHead.identity(self.n_features())

    @abstractmethod
    def n_features(self) -> int:
        """The length of one tile's feature vector."""

    @abstractmethod
    def featurize(self, windows: Sequence[np.ndarray], device: torch.device | str = "cpu") -> np.ndarray:
        """RGB ``uint8 [S, S, 3]`` windows → ``[N, F]`` float features (computed on ``device`` where it helps)."""

    def feature_name(self) -> str:
        """What the features are, for error messages."""
        return f"{self.name} at crop {self.config.crop}"

    def fit(self, train: ImageSet, val: ImageSet, *, device: torch.device, seed: int,
            progress: Progress | None = None) -> dict:
        cfg = self.config
        steps = cfg.crops_per_image + 1 + len(cfg.C)

        def report(done: int, value: float) -> None:
            if progress is not None:
                progress(completed=done, total=steps, description=f"{self.name} epoch 0 loss={value:.3f}")

        x, y = [], []
        for k in range(cfg.crops_per_image):
            rng = numpy_rng(seed, f"{self.family}-crops", k)
            crops = sample_crops(train.images, range(len(train)), cfg.augment, cfg.crop, rng)
            x.append(self.featurize(crops, device))
            y.append(train.labels)
            report(k + 1, float("nan"))
        x, y = np.concatenate(x), np.concatenate(y)  # [N*K, F], [N*K]
        val_tiles, owner = self.tiled(val.images)
        val_x = self.featurize(val_tiles, device)  # [T, F], featurised once for every C
        report(cfg.crops_per_image + 1, float("nan"))

        scaler = StandardScaler().fit(x)
        xs = scaler.transform(x)
        mean, scale = scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64)
        history, best = [], None
        for i, c in enumerate(cfg.C):
            if cfg.classifier == "logistic":
                clf = LogisticRegression(C=c, max_iter=2000)
            else:
                clf = LinearSVC(C=c, max_iter=20000, random_state=seed)
            clf.fit(xs, y)
            head = LinearHead(mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]))
            ap = summarize(val.labels, self.image_means(head.probs(val_x), owner, len(val)))["ap"]
            history.append({"C": c, "val_ap": round(ap, 5)})
            if best is None or ap > best[0]:
                best = (ap, c, head)
            report(cfg.crops_per_image + 2 + i, ap)
        _, best_c, self.head = best
        return {"history": history, "best_C": best_c, "train_windows": len(y)}

    def tile_scores(self, tiles: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """``sigmoid(w · standardised features + b)`` of each tile."""
        return self.head.probs(self.featurize(tiles, device)) if len(tiles) else np.zeros(0)

    def tensors(self) -> dict[str, torch.Tensor]:
        return self.head.tensors()

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.head = LinearHead.from_tensors(tensors, self.n_features(), self.feature_name())
