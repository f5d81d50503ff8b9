"""What the bundled detectors are documented to do differently, checked on bundled photographs (no `make data`)."""

from __future__ import annotations

import numpy as np
from fakescope.detector.base import load_detector
from fakescope.generators.sources import create_source

from fakescope.core.imageio import to_uint8


def flagged(name: str, source: str) -> float:
    """The share of 60 windows (128 px) of the bundled photographs that ``name`` flags at its threshold."""
    drawn = create_source(source).draw(60, size=128, channels=3, split="all", seed=0)
    det = load_detector(name)
    return float(np.mean(det.predict_proba([to_uint8(x) for x in drawn.images]) >= det.threshold))


def test_npr_enlarged_leaves_enlarged_photographs_alone_where_the_default_flags_many():
    """`npr-published` learnt super-resolution fakes beside reals that were never enlarged, and flags real
    photographs that were only enlarged by interpolation; `npr-enlarged` learnt such photographs as real."""
    assert flagged("npr-enlarged", "photo-patches") <= 0.05 and flagged("npr-published", "photo-patches") <= 0.10
    enlarged_default, enlarged_new = flagged("npr-published", "enlarged:photo-patches"), flagged(
        "npr-enlarged", "enlarged:photo-patches")
    assert enlarged_new <= 0.10 and enlarged_default >= enlarged_new + 0.15, (enlarged_default, enlarged_new)
