"""Imports run one way: fakescope → detector → generators → fakescope.core (DESIGN.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"generators": {"detector", "fakescope"}, "detector": {"fakescope"},
             "fakescope/core": {"generators", "detector", "fakescope"}}
CORE = "fakescope.core"  # the lowest layer: every layer may import it, it imports nothing of ours


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.ImportFrom) and "core" in path.parts and node.level > 1:
            modules = ["fakescope"]  # a relative import out of core
        else:
            continue
        names |= {m.split(".")[0] for m in modules if m != CORE and not m.startswith(CORE + ".")}
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_never_import_upper_layers(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imported_packages(path) & FORBIDDEN[package]
    }
    assert not offenders


def test_no_top_level_datasets_package():
    assert not (ROOT / "datasets" / "__init__.py").exists()  # it would shadow the widely used library
