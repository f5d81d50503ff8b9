"""The detector interface and registry.

A detector maps images to the probability that each is synthetic. Every family — a CNN, a spectral
classifier, a timm backbone — implements the same interface:

- ``Config``: a frozen dataclass saved with the checkpoint;
- ``fit(train, val, device=, seed=, progress=)`` on :class:`detector.data.ImageSet` s;
- ``predict_proba(images, device=)``: RGB ``uint8 [H, W, 3]`` arrays of any size → probabilities;
- ``tensors()`` / ``load_tensors()``: the learned state as named tensors (saved with safetensors);
- ``complexity()``: parameters and multiply-accumulates per image.

The decision threshold is chosen on validation data only and travels with the checkpoint.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from generators.checkpoint import (
    CheckpointError,
    config_from_dict,
    load_checkpoint,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
)
from generators.registry import Registry

if TYPE_CHECKING:
    from .data import ImageSet

CHECKPOINT_KIND = "detector"
DEFAULT_DETECTOR = "discriminator-digits"

Progress = Callable[[int, int, dict], None]  # (step, total, metrics)


class Detector(ABC):
    """One detector family with a fixed config and, once fitted, its learned state and threshold."""

    family: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any) -> None:
        self.config = config
        self.threshold = 0.5
        self.info: dict = {}  # training record: corpora, metrics, command

    @abstractmethod
    def fit(self, train: ImageSet, val: ImageSet, *, device: torch.device, seed: int,
            progress: Progress | None = None) -> dict: ...

    @abstractmethod
    def predict_proba(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """``images``: RGB ``uint8 [H, W, 3]`` arrays, any sizes → ``[N]`` probabilities of being synthetic."""

    @abstractmethod
    def tensors(self) -> dict[str, torch.Tensor]: ...

    @abstractmethod
    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def complexity(self) -> dict[str, int]:
        return {}

    def save(self, folder: str | os.PathLike, *, half: bool = False) -> str:
        meta = {"kind": CHECKPOINT_KIND, "family": self.family, "config": self.config,
                "threshold": self.threshold, **self.info}
        return save_checkpoint(folder, self.tensors(), meta, half=half)


DETECTORS: Registry[type[Detector]] = Registry("detector family")


def list_detectors() -> list[str]:
    _import_families()
    return DETECTORS.names()


def create_detector(name: str, **overrides: Any) -> Detector:
    _import_families()
    family = DETECTORS.get(name)
    return family(replace(family.Config(), **overrides))


def load_detector(name_or_dir: str | os.PathLike = DEFAULT_DETECTOR, *, family: str | None = None) -> Detector:
    """A fitted detector from a bundled name or a checkpoint folder.

    ``family`` (when given) must match the checkpoint's, so a checkpoint of another family is refused.
    """
    _import_families()
    folder = resolve_checkpoint(name_or_dir, "detector")
    meta = read_meta(folder)
    if family is not None and meta.get("family") != family:
        raise CheckpointError(f"{folder}: is a {meta.get('family')!r} detector, not {family!r}")
    tensors, meta = load_checkpoint(folder, kind=CHECKPOINT_KIND)
    cls = DETECTORS.get(meta["family"])
    det = cls(config_from_dict(cls.Config, meta["config"]))
    det.load_tensors(tensors)
    det.threshold = float(meta.get("threshold", 0.5))
    det.info = {k: v for k, v in meta.items() if k not in ("kind", "family", "config", "threshold")}
    det.info["path"] = str(folder)
    return det


def _import_families() -> None:
    from . import families  # noqa: F401  (registers every family)
