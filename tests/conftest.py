"""Shared fixtures: a tiny trained GAN, corpora built from it, a tiny detector trained on them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fakescope.generators.corpus import CorpusSpec, build_corpus
from fakescope.generators.gan import create_gan
from fakescope.generators.sources import create_source
from fakescope.generators.training import train_gan


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
