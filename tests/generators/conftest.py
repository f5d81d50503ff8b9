"""Shared fixtures of the generator tests."""

from __future__ import annotations

import pytest

#: Small configs per GAN family for tests that run every registered family (a family without one is tested at its
#: default config).
TINY = {
    "vanilla": {"image_size": 8, "latent_dim": 8, "g_hidden": (16, 32), "d_hidden": (16,)},
    "progan": {"image_size": 8, "latent_dim": 16, "fmap_base": 64, "fmap_max": 16},
    "cyclegan": {"image_size": 24, "ngf": 4, "ndf": 4, "n_blocks": 1},
    "resynth": {"image_size": 16, "width": 4, "stages": 1},
    "upscaler": {"width": 4, "blocks": 1, "scale": 2, "channels": 1},
}


@pytest.fixture(scope="session")
def tiny() -> dict[str, dict]:
    """:data:`TINY`: a small config per GAN family."""
    return TINY
