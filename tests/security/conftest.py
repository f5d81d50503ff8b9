"""Fixtures of the hostile-input tests: a tiny recipe and a corpus built from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_recipe(tmp_path_factory) -> Path:
    """A recipe of 8×8 gray digits against a tiny untrained vanilla GAN (a few images per split)."""
    from fakescope.generators.gan import create_gan

    root = tmp_path_factory.mktemp("recipe")
    create_gan("vanilla", image_size=8, latent_dim=8, g_hidden=(16,), d_hidden=(16,)).save(root / "gen")
    sha = json.loads((root / "gen" / "config.json").read_text())["sha256"]
    path = root / "tiny.toml"
    path.write_text(f'seed = 4\nsize = 8\nchannels = 1\ncounts = {{ train = 6, val = 3, test = 3 }}\n'
                    f'[[real]]\nsource = "digits"\n[[fake]]\ngenerator = "gen"\nsha256 = "{sha}"\n')
    return path


@pytest.fixture
def small_corpus(tmp_path, tiny_recipe) -> Path:
    from fakescope.generators.corpus import build_corpus
    from fakescope.generators.recipes import load_recipe

    out = tmp_path / "corpus"
    build_corpus(load_recipe(tiny_recipe), out)
    return out
