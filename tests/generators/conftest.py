"""Shared fixtures of the generator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fakescope.core import optional
from fakescope.core.imageio import encode_jpeg, encode_png

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


@pytest.fixture
def debian_photos_standin(tmp_path, monkeypatch) -> Path:
    """The ``debian-photos`` source reading a stand-in tree instead of the Debian packages: a small image of random
    pixels at every path it lists (JPEG or PNG as named, 48 to 95 px a side), so that its logic is tested where
    ``make data`` was not run. Returns the tree's root."""
    from fakescope.generators import sources

    rng = np.random.default_rng(0)
    roots = {package: tmp_path / package for package in sources._DEBIAN_ROOTS}
    for package, rel, _ in sources._DEBIAN_PHOTOS:
        h, w = rng.integers(48, 96, 2)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = roots[package] / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_png(pixels) if path.suffix == ".png" else encode_jpeg(pixels, 95))
    monkeypatch.setattr(sources, "_DEBIAN_ROOTS", {package: str(root) for package, root in roots.items()})
    # the source reads the stand-in, not the packages: it is not hidden, whatever else is
    monkeypatch.setenv(optional.HIDE_ENV, ",".join(sorted(optional.hidden() - {"debian-photos"})))
    return tmp_path
