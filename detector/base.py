"""The detector interface and registry.

A detector maps images to the probability that each is synthetic. Every family — a CNN, a spectral
classifier, a timm backbone — implements the same interface:

- ``Config``: a frozen dataclass saved with the checkpoint;
- ``fit(train, val, device=, seed=, progress=)`` on :class:`fakescope.detector.data.ImageSet` s (``val`` only for early
  stopping and model selection);
- ``tile_scores(tiles, device=)``: RGB ``uint8 [crop, crop, 3]`` tiles → uncalibrated scores in [0, 1] (the base
  class covers each image with ``crop``-sized tiles at native resolution and averages: :meth:`raw_scores`);
- ``tensors()`` / ``load_tensors()``: the learned state as named tensors (saved with safetensors);
- ``complexity()``: parameters and multiply-accumulates per image.

The base class adds what every family shares: :meth:`Detector.predict_proba` returns *calibrated*
probabilities (Platt or isotonic, fit on the validation split, see :mod:`fakescope.detector.calibration`), and
``threshold`` is the decision threshold on that calibrated scale, also chosen on the validation split. Both
travel with the checkpoint, so ``fakescope score`` uses them by default.

Family names: a registered name (``discriminator``, ``spectrum``, ``npr``) or ``family:variant`` for families
with a variant field (``timm:resnet18`` sets ``TimmConfig.arch``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from fakescope.core.checkpoint import (
    CheckpointError,
    bundled_root,
    config_from_dict,
    load_checkpoint,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
)
from fakescope.core.config import with_overrides
from fakescope.core.progress import Progress
from fakescope.core.registry import Registry
from fakescope.core.safety import first_line

from . import families
from .calibration import Calibration
from .data import tile_count, tile_origins, tiles
from .families import DEFAULT_DETECTOR
from .records import TileGrid

if TYPE_CHECKING:
    from .data import ImageSet

CHECKPOINT_KIND = "detector"

_STORED_BY_SAVE = ("path", "sha256", "format_version", "fakescope_version", "calibration_method")


class Detector(ABC):
    """One detector family with a fixed config and, once fitted, its learned state, calibration and threshold."""

    family: ClassVar[str]
    Config: ClassVar[type]
    variant_field: ClassVar[str | None] = None  # the config field that ``family:variant`` sets
    default_variant: ClassVar[str | None] = None  # a variant named by the bare family name (``npr`` = fakescope's)
    halvable: ClassVar[bool] = True  # whether ``save(half=True)`` may store the learned tensors in fp16
    trainable: ClassVar[bool] = True  # whether ``fakescope train`` makes it (``adapted`` is made by ``adapt``)

    def __init__(self, config: Any) -> None:
        self.config = config
        self.calibration = Calibration()
        self.threshold = 0.5  # on the calibrated scale: score >= threshold means fake
        self.info: dict = {}  # training record: corpora, metrics, command

    @property
    def name(self) -> str:
        """``family`` or ``family:variant``."""
        if self.variant_field is None or getattr(self.config, self.variant_field) == self.default_variant:
            return self.family
        return f"{self.family}:{getattr(self.config, self.variant_field)}"

    @abstractmethod
    def fit(self, train: ImageSet, val: ImageSet, *, device: torch.device, seed: int,
            progress: Progress | None = None) -> dict:
        """Learn from ``train``; ``val`` only for early stopping / model selection. Returns a training record."""

    @abstractmethod
    def tile_scores(self, tiles: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """``tiles``: RGB ``uint8 [crop, crop, 3]`` arrays → ``[T]`` uncalibrated scores in [0, 1] (float64)."""

    def raw_scores(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """``images``: RGB ``uint8 [H, W, 3]`` arrays, any sizes → ``[N]`` uncalibrated scores in [0, 1].

        An image is never downscaled or zero-padded: it is covered by ``config.crop``-sized tiles at its native
        resolution (:func:`fakescope.detector.data.tiles`) and scored as the mean of its tiles' scores.
        """
        return self._tile_pass(images, device)[0]

    def tiled(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
        """``([T] crop-sized tiles of every image at native resolution, [T] the image each tile comes from)``."""
        owner, pieces = [], []
        for i, image in enumerate(images):
            for tile in tiles(image, self.config.crop):
                owner.append(i)
                pieces.append(tile)
        return pieces, owner

    @staticmethod
    def image_means(tile_values: np.ndarray, owner: Sequence[int], n: int) -> np.ndarray:
        """``[N]``: the mean of each image's tile values (0 for an image without tiles)."""
        sums = np.bincount(owner, weights=tile_values, minlength=n)
        return sums / np.maximum(np.bincount(owner, minlength=n), 1)

    def _tile_pass(self, images: Sequence[np.ndarray], device) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """One scoring pass: ``([N] image scores, [T] tile scores, [T] owning image of each tile)``, uncalibrated."""
        pieces, owner = self.tiled(images)
        probs = self.tile_scores(pieces, device=device) if pieces else np.zeros(0)  # [T]
        return self.image_means(probs, owner, len(images)), probs, owner

    def predict_proba(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """``images``: RGB ``uint8 [H, W, 3]`` arrays, any sizes → ``[N]`` calibrated probabilities of being fake."""
        return self.calibration(self.raw_scores(images, device=device))

    def predict_tiles(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu"
                      ) -> tuple[np.ndarray, list[TileGrid]]:
        """:meth:`predict_proba` and, from the same pass, each image's :class:`TileGrid`: where its tiles lie, their
        raw scores (whose mean, calibrated, is the image's probability) and what each alone scores on the
        calibrated scale (where in the image the detector sees synthesis)."""
        raw, tile_raw, owner = self._tile_pass(images, device)
        grids = self.tile_grids(images, self.config.crop, tile_raw, owner, self.calibration)
        return self.calibration(raw), grids

    @staticmethod
    def tile_grids(images: Sequence[np.ndarray], crop: int, tile_raw: np.ndarray, owner: Sequence[int],
                   calibration: Calibration) -> list[TileGrid]:
        """Each image's :class:`TileGrid` from one tile pass: ``[T]`` raw tile scores in image order, ``owner`` the
        image of each tile, ``calibration`` what puts a tile's raw score on the probability scale."""
        tile_probs = calibration(tile_raw) if len(tile_raw) else np.zeros(0)
        counts = np.bincount(owner, minlength=len(images)) if len(owner) else np.zeros(len(images), dtype=int)
        grids, start = [], 0
        for image, n in zip(images, counts.tolist(), strict=True):
            h, w = image.shape[:2]
            grids.append(TileGrid(crop=crop, height=h, width=w, origins=tile_origins(h, w, crop),
                                  scores=[float(p) for p in tile_probs[start:start + n]],
                                  raw=[float(r) for r in tile_raw[start:start + n]]))
            start += n
        return grids

    def operating_threshold(self, name: str) -> float:
        """The threshold of named operating point ``name`` (``strict``, ``balanced``, ``sensitive``: the share of
        validation reals flagged, :mod:`fakescope.detector.operating`), stored with the checkpoint."""
        from .operating import OPERATING_POINTS

        if name not in OPERATING_POINTS:
            raise ValueError(f"unknown operating point {name!r}; known: {', '.join(OPERATING_POINTS)}")
        points = self.info.get("operating_points") or {}
        if name not in points:
            raise ValueError(f"{self.name} carries no operating points (its checkpoint predates them): "
                             "give --threshold instead")
        return float(points[name])

    @abstractmethod
    def tensors(self) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def init_from(self, path: str | os.PathLike) -> None:
        """Start training from a local weights file (neural families only)."""
        raise ValueError(f"the {self.family!r} detector cannot be initialised from a weights file")

    def complexity(self) -> dict[str, int]:
        """``parameters``, ``macs_per_crop`` (one ``crop``×``crop`` tile) and ``crop``."""
        return {}

    def preprocessing(self) -> str:
        """What is done to an image before the model sees it (reported beside benchmark results; applied by
        :meth:`raw_scores`, so every caller scores the way the detector expects)."""
        return (f"RGB, {self.config.crop} px tiles at native resolution (never resized), mean of tile scores; "
                f"{self.calibration.method} calibration, threshold {self.threshold:.3g}")

    def macs_per_image(self, height: int, width: int, complexity: dict[str, int] | None = None) -> int:
        """Multiply-accumulates to score one ``height``×``width`` image: its tiles × the cost of one tile
        (``complexity``: :meth:`complexity`'s answer, when the caller already has it)."""
        c = self.complexity() if complexity is None else complexity
        return tile_count(height, width, c["crop"]) * c["macs_per_crop"] if c else 0

    def halves(self, key: str) -> bool:
        """Whether ``save(half=True)`` stores learned tensor ``key`` in fp16 (all of them when ``halvable``)."""
        return self.halvable

    def _halved(self) -> dict[str, torch.Tensor]:
        return {k: v.half() if v.is_floating_point() and self.halves(k) else v for k, v in self.tensors().items()}

    def round_to_half(self) -> None:
        """Round the learned tensors through fp16, so scores match those of a ``save(half=True)`` checkpoint."""
        self.load_tensors(self._halved())

    def save(self, folder: str | os.PathLike, *, half: bool = False) -> str:
        """Write the checkpoint folder; ``half`` stores the model (not the calibration) in fp16."""
        model = self._halved() if half else self.tensors()
        info = {k: v for k, v in self.info.items() if k not in _STORED_BY_SAVE}
        meta = {"kind": CHECKPOINT_KIND, "family": self.family, "config": self.config,
                "threshold": self.threshold, "calibration_method": self.calibration.method, **info}
        return save_checkpoint(folder, {**model, **self.calibration.tensors()}, meta, half=False)


DETECTORS: Registry[type[Detector]] = Registry("detector family", key="family", modules=families.MODULES)


def list_detectors() -> list[str]:
    """Registered family names (``timm`` takes a variant: ``timm:<arch>``); nothing is imported."""
    return DETECTORS.names()


def family_spec(name: str) -> tuple[type[Detector], dict[str, Any]]:
    """``"timm:resnet18"`` → ``(TimmDetector, {"arch": "resnet18"})``; ``"npr"`` → ``(NPRDetector, {})``."""
    family, sep, variant = name.partition(":")
    cls = DETECTORS.get(family)
    if not sep:
        return cls, {}
    if cls.variant_field is None:
        raise ValueError(f"detector family {family!r} takes no variant (got {name!r})")
    if not variant:
        raise ValueError(f"{name!r}: give a variant after the colon, e.g. {family}:<{cls.variant_field}>")
    return cls, {cls.variant_field: variant}


def create_detector(name: str, **overrides: Any) -> Detector:
    """A fresh detector of family ``name`` (``family`` or ``family:variant``) with config ``overrides``."""
    cls, variant = family_spec(name)
    return cls(with_overrides(cls.Config(), {**overrides, **variant}, what=name))


def load_detector(name_or_dir: str | os.PathLike | None = None, *, family: str | None = None) -> Detector:
    """A fitted detector from a bundled name or a checkpoint folder (None: the bundled default).

    A bare name is a bundled name only (see :func:`fakescope.core.checkpoint.resolve_checkpoint`); config.json's
    settings must match its ``config_sha256`` and lie in range (threshold in [0, 1], a known calibration that
    the stored arrays agree with).

    ``family`` (when given, ``family`` or ``family:variant``) must match the checkpoint's, so a checkpoint of
    another family is refused with a clear :class:`CheckpointError`.
    """
    if name_or_dir is None:
        name_or_dir = bundled_root(__package__) / DEFAULT_DETECTOR  # never a folder of that name in the cwd
    folder = resolve_checkpoint(name_or_dir, __package__)
    meta = read_meta(folder)
    if meta.get("kind") == CHECKPOINT_KIND and family is not None:  # refuse before reading any weights
        stored = str(meta.get("family"))
        cls = DETECTORS.get(stored) if stored in DETECTORS else None
        config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
        variant = None if cls is None or cls.variant_field is None else config.get(cls.variant_field)
        name = stored if cls is None or variant in (None, cls.default_variant) else f"{stored}:{variant}"
        if family not in (stored, name):
            raise CheckpointError(f"{folder}: is a {name!r} detector, not {family!r}")
    tensors, meta = load_checkpoint(folder, kind=CHECKPOINT_KIND)
    stored = meta.get("family")
    if stored not in DETECTORS:
        raise CheckpointError(f"{folder}: unknown detector family {stored!r}; known: {', '.join(DETECTORS.names())}")
    cls = DETECTORS.get(stored)
    try:
        det = cls(config_from_dict(cls.Config, meta.get("config", {})))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: bad {stored} config ({exc})") from None
    det.calibration = Calibration.from_tensors(tensors)
    _check_settings(folder, meta, det.calibration)
    try:
        det.load_tensors({k: v for k, v in tensors.items() if not k.startswith("calibration.")})
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{folder}: weights do not fit a {det.name} detector ({first_line(exc)})") from None
    det.threshold = float(meta.get("threshold", 0.5))
    det.info = {k: v for k, v in meta.items() if k not in ("kind", "family", "config", "threshold")}
    det.info["path"] = str(folder)
    return det


def _check_settings(folder, meta: dict, calibration: Calibration) -> None:
    """Refuse a checkpoint whose threshold or calibration is out of range or disagrees with its stored arrays."""
    import math

    from .calibration import FLAG_NOTHING, METHODS

    threshold = meta.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not 0.0 <= threshold <= FLAG_NOTHING:
        raise CheckpointError(f"{folder}: threshold {threshold!r} in config.json is not a number in [0, 1]")
    method = meta.get("calibration_method", calibration.method)
    if method not in METHODS:
        raise CheckpointError(f"{folder}: unknown calibration {method!r} in config.json; known: {', '.join(METHODS)}")
    if method != calibration.method:
        raise CheckpointError(f"{folder}: config.json says {method} calibration, the weights file holds "
                              f"{calibration.method}")
    arrays = [a for a in (calibration.params, calibration.x, calibration.y) if a is not None]
    if any(not np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays):
        raise CheckpointError(f"{folder}: calibration arrays hold NaN or infinite values")
    if calibration.method == "platt" and len(calibration.params) != 2:
        raise CheckpointError(f"{folder}: Platt calibration needs 2 parameters, found {len(calibration.params)}")
    if calibration.method == "isotonic" and (len(calibration.x) != len(calibration.y) or len(calibration.x) == 0
                                             or not np.all((calibration.y >= 0) & (calibration.y <= 1))):
        raise CheckpointError(f"{folder}: isotonic calibration arrays of different lengths or outside [0, 1]")
    if (calibration.method == "platt" and calibration.params[0] < 0) or (
            calibration.method == "isotonic" and np.any(np.diff(calibration.y) < 0)):
        raise CheckpointError(f"{folder}: its {calibration.method} calibration decreases, which turns the detector's "
                              "ranking around; recalibrate it (fakescope train FAMILY --init FOLDER --epochs 0 ...)")
