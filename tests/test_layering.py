"""Imports run one way: CLI → detector → generators → core (the layer diagram in docs/architecture.md).

- ``fakescope.core`` imports nothing of ours but itself;
- ``fakescope.generators`` imports core (never the detector or the CLI);
- ``fakescope.detector`` imports core and generators' public names, never a private one (``_name``);
- the CLI (the rest of ``fakescope``) sits on top;
- nothing anywhere imports the bare ``generators`` or ``detector`` (they are installed only under ``fakescope``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
#: Source folder → the package it installs as (pyproject.toml's package-dir).
FOLDERS = {"fakescope/core": "fakescope.core", "generators": "fakescope.generators", "detector": "fakescope.detector"}
OURS = ("fakescope", "generators", "detector")
#: Layer → the packages of ours it may import.
ALLOWED = {
    "fakescope.core": ("fakescope.core",),
    "fakescope.generators": ("fakescope.core", "fakescope.generators"),
    "fakescope.detector": ("fakescope.core", "fakescope.generators", "fakescope.detector"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    for folder, package in FOLDERS.items():
        if rel.as_posix().startswith(folder + "/"):
            rest = rel.relative_to(folder).parts
            return ".".join((package, *rest))
    return ".".join(rel.parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, imported names)`` for every import in ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.append((name, [a.name for a in node.names]))
    return found


def _ours(name: str) -> bool:
    return name.split(".")[0] in OURS


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_lower_layers_never_import_upper_layers(folder):
    allowed = ALLOWED[FOLDERS[folder]]
    offenders = {}
    for path in _sources(folder):
        bad = sorted({name for name, _ in _imports(path) if _ours(name) and not _within(name, allowed)})
        # names imported from the fakescope package itself (``from fakescope import x``) are the CLI's
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders


def test_detector_uses_only_public_names_of_generators():
    offenders = {}
    for path in _sources("detector"):
        for name, names in _imports(path):
            if _within(name, ("fakescope.generators",)):
                private = [n for n in [*name.split("."), *names] if n.startswith("_") and n != "__future__"]
                if private:
                    offenders.setdefault(str(path.relative_to(ROOT)), []).append(f"{name}: {', '.join(private)}")
    assert not offenders


@pytest.mark.parametrize("folder", ["fakescope", "generators", "detector", "tests", "benchmarks"])
def test_nothing_imports_the_bare_package_names(folder):
    offenders = {
        str(path.relative_to(ROOT)): bad
        for path in _sources(folder)
        if (bad := sorted({n for n, _ in _imports(path) if n.split(".")[0] in ("generators", "detector")}))
    }
    assert not offenders


def test_every_package_is_installed():
    """pyproject.toml lists packages one by one (package-dir maps the folders): a new sub-package must be listed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {package: folder for folder, package in FOLDERS.items() if folder != "fakescope/core"}
    assert config["package-dir"] == {"fakescope": "fakescope", **mapped}
    found = {_module_name(p).removesuffix(".__init__")
             for folder in ("fakescope", "generators", "detector") for p in (ROOT / folder).rglob("__init__.py")}
    assert found == set(config["packages"])


def test_no_top_level_datasets_package():
    assert not (ROOT / "datasets" / "__init__.py").exists()  # it would shadow the widely used library
