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
from pathlib import Path

MODULES = {
    "discriminator": f"{__name__}.discriminator",
    "npr": f"{__name__}.npr",
    "spectrum": f"{__name__}.spectrum",
    "timm": f"{__name__}.timm_backbone",
}
USAGE = {"timm": "timm:<arch>"}  # families without a default variant

DEFAULT_DETECTOR = "npr-bundled"  # the bundled checkpoint `fakescope score` uses when none is named


def about(name: str) -> str:
    """The first line of family ``name``'s module docstring, after its ``name``: prefix, read without importing
    the module."""
    spec = importlib.util.find_spec(MODULES[name])
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    doc = (ast.get_docstring(ast.parse(source)) or "").strip().splitlines()
    return doc[0].split(": ", 1)[-1] if doc else ""
