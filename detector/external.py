"""Detectors from elsewhere, in the same benchmark as fakescope's: a family and a third-party weights file.

``FAMILY=FILE`` (``fakescope bench --detector``, ``fakescope score --detector``) builds the family and loads the
file into it with :meth:`fakescope.detector.neural.NeuralDetector.init_from` (``.safetensors``, or ``.pth`` through
``torch.load(weights_only=True)``: loading never executes code). Known layouts:

- ``timm:resnet50=blur_jpg_prob0.5.pth``: CNNDetection (Wang et al., CVPR 2020), a torchvision ResNet-50 with a
  one-output ``fc`` under the ``model`` key; ImageNet normalisation; 224 px tiles (its training crop).
- ``npr:official=NPR.pth``: NPR (Tan et al., CVPR 2024), the authors' truncated ResNet-50
  (:class:`fakescope.detector.families.npr.OfficialNPRNet`); ImageNet normalisation; 256 px tiles.

A third-party file carries no calibration and no threshold: scores are the network's sigmoid and the decision
threshold is 0.5, as its authors use it. Each detector states its preprocessing (:meth:`Detector.preprocessing`)
and applies it when it scores.
"""

from __future__ import annotations

from pathlib import Path

from fakescope.core.imageio import sha256_file

from .base import Detector, create_detector, family_spec
from .families import EXTERNAL_DEFAULTS


def is_external(spec: str) -> bool:
    """Whether ``spec`` names a family and a weights file (``FAMILY=FILE``) rather than a checkpoint (a checkpoint
    folder whose name holds ``=`` stays a checkpoint)."""
    return "=" in spec and not Path(spec).is_dir()


def load_external(spec: str) -> tuple[str, Detector]:
    """``FAMILY=FILE`` → (the name it is reported under, a detector ready to score). ValueError when the family is
    unknown or the file does not fit it."""
    family, _, file = spec.partition("=")
    if not family or not file:
        raise ValueError(f"{spec!r}: expected FAMILY=FILE (e.g. npr:official=NPR.pth, timm:resnet50=model.pth)")
    from .neural import NeuralDetector

    try:
        if not issubclass(family_spec(family)[0], NeuralDetector):  # a probe or spectrum needs its trained head
            raise ValueError(f"{family}: a third-party weights file holds a network; this family is trained here "
                             "(fakescope train), then scored by its checkpoint folder")
        det = create_detector(family, **EXTERNAL_DEFAULTS.get(family, {}))
    except KeyError as exc:
        raise ValueError(str(exc.args[0]) if exc.args else str(exc)) from None
    det.init_from(file)  # ValueError naming the file when it is unreadable or does not fit
    det.net.eval()
    det.threshold = 0.5
    path = Path(file)
    det.info = {"path": str(path), "sha256": sha256_file(path),
                "source": "third-party weights file"}
    return f"{family}@{path.name}", det
