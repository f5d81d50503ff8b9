"""adapted: a detector made by ``fakescope adapt`` from a few images of a new generator and a base detector.

Few-shot detection of an unseen generator (Ojha et al., "Towards Universal Fake Image Detectors that Generalize
Across Generative Models", CVPR 2023: a linear probe on frozen features; "Few-Shot Learner Generalizes Across
AI-Generated Image Detection", 2025: a handful of examples of the threat at hand): a linear head on frozen ImageNet
features (the ``probe`` family's per-channel statistics of a pretrained backbone) learns the given fakes against
real images, and the base detector is kept whole beside it. An image's probability is the larger of the two::

    p = max(p_base(image), p_head(image))

so nothing the base detector catches is forgotten (the base's weights are never touched), and the head only adds
what the new examples taught it. ``p_head`` is the head's mean tile probability, Platt-calibrated on
cross-validated scores with both classes weighted equally (the base's calibration also sees as many fakes as
reals), so the two are on one scale. The threshold and the operating points are chosen on cross-validated scores
of the given images and of the stored real features (:mod:`fakescope.detector.adapt`), never on what the detector
is later judged on.

The checkpoint holds the base detector whole (``base.*`` tensors, its family and config in ``base``), the probe
(``head.*``: backbone and linear head) and the head's Platt parameters (``fusion.platt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from fakescope.core.checkpoint import CheckpointError, config_from_dict, config_to_dict

from ..base import DETECTORS, Detector
from ..calibration import Calibration
from ..records import TileGrid

BASE, HEAD = "base.", "head."


@dataclass(frozen=True)
class AdaptedConfig:
    head: dict = field(default_factory=dict)  # the probe: {"family": "probe", "config": {...ProbeConfig}}
    base: dict = field(default_factory=dict)  # the base detector: family, config, threshold, calibration, name
    generators: tuple[str, ...] = ()  # the names of the generators adapted to (--fake NAME=DIR)

    @property
    def crop(self) -> int:  # the head's tile side: what heatmaps and complexity report
        return int(self.head.get("config", {}).get("crop", 0))


def _part(spec: dict, what: str) -> Detector:
    """A detector of ``spec``'s family and config, unfitted."""
    family = spec.get("family")
    if family not in DETECTORS or family == "adapted":
        raise CheckpointError(f"adapted detector: unknown {what} family {family!r}")
    cls = DETECTORS.get(family)
    try:
        return cls(config_from_dict(cls.Config, spec.get("config", {})))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"adapted detector: bad {what} config ({exc})") from None


@DETECTORS.register
class AdaptedDetector(Detector):
    family = "adapted"
    Config = AdaptedConfig
    halvable = False  # the parts choose for themselves (see _halved)
    trainable = False

    def __init__(self, config: AdaptedConfig) -> None:
        super().__init__(config)
        self.base: Detector | None = _part(config.base, "base") if config.base else None
        self.head: Detector | None = _part(config.head, "head") if config.head else None
        self.head_calibration = Calibration()

    @classmethod
    def assemble(cls, base: Detector, head: Detector, head_calibration: Calibration,
                 generators: Sequence[str]) -> AdaptedDetector:
        """An adapted detector from a fitted base, a fitted head and the head's calibration."""
        base_spec = {"family": base.family, "config": config_to_dict(base.config), "name": base.name,
                     "threshold": float(base.threshold), "calibration_method": base.calibration.method}
        head_spec = {"family": head.family, "config": config_to_dict(head.config)}
        det = cls(AdaptedConfig(head=head_spec, base=base_spec, generators=tuple(generators)))
        det.base, det.head, det.head_calibration = base, head, head_calibration
        return det

    # scoring ------------------------------------------------------------------------------------------------------
    def fit(self, train, val, *, device, seed, progress=None) -> dict:
        raise ValueError("an adapted detector is made by `fakescope adapt`, not trained on corpora")

    def tile_scores(self, tiles: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """The head's calibrated probability per tile (the base scores whole images: see :meth:`predict_proba`)."""
        return self.head_calibration(self.head.tile_scores(tiles, device=device))

    def parts(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu"
              ) -> tuple[np.ndarray, np.ndarray]:
        """``([N] the base's calibrated probabilities, [N] the head's)`` for RGB ``uint8 [H, W, 3]`` images."""
        return self.base.predict_proba(images, device=device), self.head_calibration(
            self.head.raw_scores(images, device=device))

    def raw_scores(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        base, head = self.parts(images, device=device)
        return np.maximum(base, head)

    def predict_tiles(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu"
                      ) -> tuple[np.ndarray, list[TileGrid]]:
        """The fused probability, and where the head sees the new generator (its tiles, calibrated)."""
        raw, tile_raw, owner = self.head._tile_pass(images, device)
        probs = np.maximum(self.base.predict_proba(images, device=device), self.head_calibration(raw))
        grids = self.tile_grids(images, self.head.config.crop, tile_raw, owner, self.head_calibration)
        return self.calibration(probs), grids

    def preprocessing(self) -> str:
        return (f"the larger of two probabilities: the base detector {self.config.base.get('name')} "
                f"({self.base.preprocessing()}) and a head adapted to {', '.join(self.config.generators)} "
                f"({self.head.preprocessing()}); threshold {self.threshold:.3g}")

    def complexity(self) -> dict[str, int]:
        base, head = self.base.complexity(), self.head.complexity()
        if not base or not head:
            return {}
        return {"parameters": base["parameters"] + head["parameters"], "crop": head["crop"],
                "macs_per_crop": head["macs_per_crop"] + base["macs_per_crop"] * (head["crop"] // base["crop"]) ** 2}

    # state --------------------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        base = {**self.base.tensors(), **self.base.calibration.tensors()}
        return {**{BASE + k: v for k, v in base.items()}, **{HEAD + k: v for k, v in self.head.tensors().items()},
                **{"fusion." + k.split(".", 1)[1]: v for k, v in self.head_calibration.tensors().items()}}

    def _halved(self) -> dict[str, torch.Tensor]:
        """Each part halved where its own family allows (the calibrations stay float64)."""
        out = self.tensors()
        for prefix, part in ((BASE, self.base), (HEAD, self.head)):
            for k, v in list(out.items()):
                inner = k[len(prefix):]
                if k.startswith(prefix) and not inner.startswith("calibration.") and v.is_floating_point() \
                        and part.halves(inner):
                    out[k] = v.half()
        return out

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.base is None or self.head is None:
            raise KeyError("an adapted detector's config names no base or head")
        base = {k[len(BASE):]: v for k, v in tensors.items() if k.startswith(BASE)}
        self.base.calibration = Calibration.from_tensors(base)
        self.base.load_tensors({k: v for k, v in base.items() if not k.startswith("calibration.")})
        self.base.threshold = float(self.config.base.get("threshold", 0.5))
        self.head.load_tensors({k[len(HEAD):]: v for k, v in tensors.items() if k.startswith(HEAD)})
        self.head_calibration = Calibration.from_tensors(
            {"calibration." + k[len("fusion."):]: v for k, v in tensors.items() if k.startswith("fusion.")})
