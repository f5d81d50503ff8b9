"""Optional resources (:mod:`fakescope.core.optional`): one list of them, each installed by a Makefile target;
``FAKESCOPE_HIDE_OPTIONAL`` hides them from the library's look-ups and from the tests, whose ``needs`` marker skips
naming the command. The list agrees with what the library looks up."""

from __future__ import annotations

import hashlib
import re
import textwrap
from pathlib import Path

import pytest

from fakescope.core import optional
from fakescope.core.optional import HIDE_ENV, Resource
from fakescope.core.wheels import installed_file

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch) -> Path:
    """A resource ``fake-wheel`` (``make fake``) whose wheel ``fake_optional_pkg`` is installed, and a resource
    ``fake-files`` (``make files``) whose one file is there."""
    package = tmp_path / "fake_optional_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    (package / "w.bin").write_bytes(b"weights")
    (tmp_path / "photo.jpg").write_bytes(b"jpeg")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(optional.RESOURCES, "fake-wheel", Resource("make fake", "a wheel",
                                                                   modules=("fake_optional_pkg",)))
    monkeypatch.setitem(optional.RESOURCES, "fake-files", Resource("make files", "files",
                                                                   files=(str(tmp_path / "photo.jpg"),)))
    monkeypatch.delenv(HIDE_ENV, raising=False)
    return tmp_path


@pytest.mark.parametrize(("value", "hidden"), [("", set()), (" imagenet, upscalers ", {"imagenet", "upscalers"}),
                                               ("debian-photos", {"debian-photos"}), ("all", set(optional.RESOURCES)),
                                               ("imagenet,all", set(optional.RESOURCES))])
def test_the_variable_names_resources_or_all(monkeypatch, value, hidden):
    monkeypatch.setenv(HIDE_ENV, value)
    assert optional.hidden() == hidden


def test_an_unknown_name_is_an_error_that_lists_the_known_ones(monkeypatch):
    monkeypatch.setenv(HIDE_ENV, "imagenet,debian_photos")
    with pytest.raises(ValueError, match="unknown resource 'debian_photos'; known: all, debian-photos, imagenet"):
        optional.hidden()
    with pytest.raises(KeyError, match="unknown optional resource 'nope'"):
        optional.present("nope")


def test_a_hidden_wheel_is_not_found_and_a_hidden_file_is_under_an_empty_root(fake_wheel, monkeypatch):
    digest = hashlib.sha256(b"weights").hexdigest()
    assert optional.present("fake-wheel") and optional.present("fake-files")
    assert installed_file("fake_optional_pkg", "w.bin", digest, install="make fake") == fake_wheel / \
        "fake_optional_pkg" / "w.bin"
    assert optional.located("fake-files", fake_wheel / "photo.jpg") == fake_wheel / "photo.jpg"
    assert optional.missing_reason("fake-wheel") == "needs make fake"

    monkeypatch.setenv(HIDE_ENV, "fake-wheel,fake-files")  # the resources' own names, as the list grows
    assert not optional.present("fake-wheel") and not optional.present("fake-files")
    assert optional.find_spec("fake_optional_pkg") is None and optional.hidden_modules() == {"fake_optional_pkg"}
    with pytest.raises(ValueError, match="fake_optional_pkg is not installed: run make fake"):
        installed_file("fake_optional_pkg", "w.bin", digest, install="run make fake")
    hidden = optional.located("fake-files", fake_wheel / "photo.jpg")
    assert hidden == optional.HIDDEN_ROOT / (fake_wheel / "photo.jpg").relative_to("/") and not hidden.exists()
    assert optional.missing_reason("fake-files") == f"needs make files (hidden by {HIDE_ENV})"
    assert optional.find_spec("numpy") is not None  # what is not listed is never hidden


def test_every_resource_is_brought_by_a_makefile_target():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    for name, resource in optional.RESOURCES.items():
        command, _, target = resource.command.partition(" ")
        assert command == "make" and target in targets, (name, resource.command)
        assert resource.modules or resource.files, name  # something tells whether it is there
    assert "test-bare" in targets


def test_the_list_names_every_wheel_and_debian_package_the_library_looks_up():
    from fakescope.detector.pretrained import IMAGENET_WEIGHTS
    from fakescope.generators import sources
    from fakescope.generators.families import upscaler

    assert {w.module for w in IMAGENET_WEIGHTS.values()} == set(optional.RESOURCES["imagenet"].modules)
    assert {upscaler.wheel_module(w) for w in upscaler.WHEELS} == set(optional.RESOURCES["upscalers"].modules)
    photos = {str(Path(sources._DEBIAN_ROOTS[package]) / rel): package for package, rel, _ in sources._DEBIAN_PHOTOS}
    files = optional.RESOURCES["debian-photos"].files
    assert set(files) <= set(photos) and {photos[f] for f in files} == set(sources._DEBIAN_ROOTS)  # one a package


def test_the_needs_marker_skips_naming_the_command_and_a_hidden_wheel_cannot_be_imported(pytester, monkeypatch):
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_it=textwrap.dedent("""
        import pytest

        @pytest.mark.needs("imagenet")
        def test_needs_imagenet():
            pass

        @pytest.mark.needs("invisible-watermark")
        def test_marked_import():
            import imwatermark  # noqa: F401

        def test_unmarked_import():
            import imwatermark  # noqa: F401

        def test_unhidden_import():
            import numpy  # noqa: F401
    """))
    monkeypatch.setenv(HIDE_ENV, "imagenet,invisible-watermark")
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=2, failed=1)
    result.stdout.fnmatch_lines([f"E * No module named 'imwatermark' (hidden by {HIDE_ENV})",  # the unmarked test
                                 f"SKIPPED*test_it.py:*: needs make imagenet (hidden by {HIDE_ENV})",
                                 f"SKIPPED*test_it.py:*: needs make test (hidden by {HIDE_ENV})"])
