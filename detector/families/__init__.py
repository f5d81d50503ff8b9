"""Detector families, one module each, registered by name when first used.

``MODULES`` is what lets ``fakescope detectors list`` answer, and ``fakescope score`` load one family, without
importing the others (timm, scikit-learn, torch for a listing): ``DETECTORS`` knows these names and imports a
family's module (which registers the family) on first use. ``USAGE`` spells the families that need a variant.
A new family is one line here; ``tests/detector/test_families_catalog.py`` checks the table against what the
modules register.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

MODULES = {
    "adapted": f"{__name__}.adapted",
    "discriminator": f"{__name__}.discriminator",
    "npr": f"{__name__}.npr",
    "probe": f"{__name__}.probe",
    "spectrum": f"{__name__}.spectrum",
    "surprisal": f"{__name__}.surprisal",
    "timm": f"{__name__}.timm_backbone",
}
USAGE = {"timm": "timm:<arch>", "probe": "probe:<arch>"}  # families whose name carries a variant

DEFAULT_DETECTOR = "npr-published"  # the bundled checkpoint `fakescope score` uses when none is named


def about(name: str) -> str:
    """The first line of family ``name``'s module docstring, after its ``name``: prefix, read without importing
    the module."""
    spec = importlib.util.find_spec(MODULES[name])
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    doc = (ast.get_docstring(ast.parse(source)) or "").strip().splitlines()
    return doc[0].split(": ", 1)[-1] if doc else ""


@dataclass(frozen=True)
class ExternalLayout:
    """A third-party weights layout a family loads: what ``FAMILY=FILE`` takes, in one line."""

    family: str  # FAMILY in FAMILY=FILE: a family, with its variant
    about: str  # whose network and file, and its preprocessing
    example: str  # a FAMILY=FILE as a user writes it
    overrides: dict = field(default_factory=dict)  # config overrides: the tile size the network was trained at


#: The layouts known to load (others may, when a file's keys fit a family: ``init_from`` says when not).
EXTERNAL_LAYOUTS: tuple[ExternalLayout, ...] = (
    ExternalLayout("timm:resnet50", "CNNDetection's ResNet-50 (Wang et al. 2020); ImageNet norm., 224 px tiles",
                   "timm:resnet50=blur_jpg_prob0.5.pth", {"crop": 224}),
    ExternalLayout("npr:official", "NPR's truncated ResNet-50 (Tan et al. 2024); ImageNet norm., 256 px tiles",
                   "npr:official=NPR.pth", {"crop": 256}),
)
#: Config overrides per family for third-party files.
EXTERNAL_DEFAULTS: dict[str, dict] = {layout.family: layout.overrides for layout in EXTERNAL_LAYOUTS}


def list_external() -> list[dict[str, str]]:
    """The known third-party layouts (``family``, ``about``, ``example``), for listings."""
    return [{"family": x.family, "about": x.about, "example": x.example} for x in EXTERNAL_LAYOUTS]
