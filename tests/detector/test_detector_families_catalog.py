"""The detector family table (name → module, read without importing torch) agrees with what the modules register."""

import importlib
import sys

from fakescope.detector.base import DETECTORS
from fakescope.detector.families import MODULES, USAGE, about


def test_the_table_names_every_registered_family_and_its_module():
    DETECTORS.load_all()
    assert sorted(DETECTORS._entries) == sorted(MODULES)
    for name in MODULES:
        cls = DETECTORS.get(name)
        assert cls.__module__ == MODULES[name]
        needs_variant = cls.variant_field is not None and cls.default_variant is None
        assert USAGE.get(name, name) == (f"{name}:<{cls.variant_field}>" if needs_variant else name)
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        assert about(name) == doc[0].split(": ", 1)[-1]


def test_a_family_loads_on_first_use():
    assert "npr" in DETECTORS and DETECTORS.get("npr") is importlib.import_module(MODULES["npr"]).NPRDetector
