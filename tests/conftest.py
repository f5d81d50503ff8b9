"""Shared fixtures: a tiny trained GAN, corpora built from it, a tiny detector trained on them; and the ``needs``
marker of tests that need an optional resource (:mod:`fakescope.core.optional`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from fakescope.generators.corpus import CorpusSpec, build_corpus
from fakescope.generators.gan import create_gan
from fakescope.generators.sources import create_source
from fakescope.generators.training import train_gan

from fakescope.core import optional


class _HiddenWheels:
    """Refuses to import the wheels of the resources ``FAKESCOPE_HIDE_OPTIONAL`` hides: a test that imports one
    without ``@pytest.mark.needs`` fails where they are hidden, as it would where they are not installed."""

    def __init__(self, modules: frozenset[str]) -> None:
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.modules:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by {optional.HIDE_ENV})", name=name)
        return None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(resource, ...): the test needs these optional resources (names in "
                            "fakescope.core.optional.RESOURCES); it skips, naming the command that installs them, "
                            "where they are missing or hidden by FAKESCOPE_HIDE_OPTIONAL")
    try:
        hidden = optional.hidden_modules()
    except ValueError as exc:  # an unknown name in FAKESCOPE_HIDE_OPTIONAL
        raise pytest.UsageError(str(exc)) from None
    if hidden:
        sys.meta_path.insert(0, _HiddenWheels(hidden))


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in item.iter_markers("needs"):
            if not mark.args:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.needs takes the names of optional resources")
            for name in mark.args:
                if not optional.present(name):  # an unknown name is a KeyError that lists the known ones
                    item.add_marker(pytest.mark.skip(reason=optional.missing_reason(name)))
                    break


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_gan_dir(tmp_path_factory) -> Path:
    """A vanilla GAN at 16×16 gray trained for 2 epochs on digits: its checkpoint folder."""
    run = tmp_path_factory.mktemp("gan-run")
    gan = create_gan("vanilla", seed=0, image_size=16, epochs=2, batch_size=64)
    data = create_source("digits").draw(None, size=16, channels=1, split="train", seed=0).images
    return train_gan(gan, data, run / "run", seed=0, options={"data": "digits"})


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, tiny_gan_dir) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    spec = CorpusSpec(real="digits", generator=str(tiny_gan_dir), counts={"train": 96, "val": 32, "test": 32}, seed=1)
    build_corpus(spec, out)
    return out


@pytest.fixture(scope="session")
def bench_corpora(tmp_path_factory, tiny_corpus) -> list[Path]:
    """Two corpora of real digits: one against the tiny test GAN, one against the bundled vanilla-digits."""
    other = tmp_path_factory.mktemp("bench") / "vd"
    build_corpus(CorpusSpec(real="digits", generator="vanilla-digits", size=16, channels=1,
                            counts={"train": 8, "val": 8, "test": 24}, seed=2), other)
    return [tiny_corpus, other]


@pytest.fixture(scope="session")
def bench_detector_dir(tmp_path_factory, tiny_corpus) -> Path:
    """A ``spectrum`` detector trained on the tiny corpus: its checkpoint folder."""
    from fakescope.detector.base import create_detector
    from fakescope.detector.training import train_detector

    det = create_detector("spectrum")
    train_detector(det, [tiny_corpus], device="cpu", seed=0)
    folder = tmp_path_factory.mktemp("det") / "spectrum"
    det.save(folder)
    return folder
