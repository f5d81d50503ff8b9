"""``core.perturb``: the geometric kinds, chains and grids used by ``fakescope bench``."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.core.perturb import GRIDS, Chain, apply_chain, parse_chain, parse_grid, parse_perturbation


def _image(h=40, w=60):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_grid_items_expand_to_every_combination_in_order():
    assert [str(c) for c in parse_grid("jpeg:90,75")] == ["jpeg:90", "jpeg:75"]
    assert [str(c) for c in parse_grid("jpeg:90,75+resize:0.5,0.25")] == [
        "jpeg:90+resize:0.5", "jpeg:90+resize:0.25", "jpeg:75+resize:0.5", "jpeg:75+resize:0.25"]
    assert parse_grid("none") == [Chain()] and str(Chain()) == "none" and not Chain()
    standard = [str(c) for c in parse_grid("standard")]
    assert standard[0] == "none" and "jpeg:30" in standard and "jpeg:75+resize:0.5" in standard
    assert len(standard) == len(set(standard)) and set(GRIDS) >= {"standard", "quick"}


def test_resize_keeps_small_resample_comes_back_crop_is_seeded():
    image = _image()
    rng = np.random.default_rng(0)
    small = apply_chain(image, parse_chain("resize:0.5"), rng)
    back = apply_chain(image, parse_chain("resample:0.5"), rng)
    assert small.shape == (20, 30, 3) and back.shape == image.shape and not np.array_equal(back, image)
    crops = [apply_chain(image, parse_chain("crop:0.5"), np.random.default_rng(s)) for s in (1, 1, 2)]
    assert crops[0].shape == (20, 30, 3) and np.array_equal(crops[0], crops[1])
    windows = [apply_chain(image, parse_chain("crop:0.5"), np.random.default_rng(s)) for s in range(2, 8)]
    assert any(not np.array_equal(crops[0], w) for w in windows)


def test_a_chain_applies_its_steps_left_to_right():
    image = _image()
    chain = parse_chain("jpeg:75+resize:0.5")
    assert chain.family() == "jpeg+resize" and str(chain) == "jpeg:75+resize:0.5"
    rng = np.random.default_rng(0)
    step = apply_chain(apply_chain(image, parse_chain("jpeg:75"), rng), parse_chain("resize:0.5"), rng)
    assert np.array_equal(apply_chain(image, chain, np.random.default_rng(0)), step)
    assert not np.array_equal(apply_chain(image, parse_chain("resize:0.5+jpeg:75"), rng), step)


@pytest.mark.parametrize("text, message", [
    ("resize:0", "factor 0.0: expected 0.01 <= factor <= 1"),
    ("crop:2", "fraction 2.0"),
    ("zoom:2", "kind 'zoom'"),
    ("jpeg:75+blur", "expected KIND:VALUE"),
])
def test_bad_grid_items_are_refused_with_the_step(text, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(text)


def test_recipes_still_refuse_geometric_kinds():
    from fakescope.core.perturb import PERTURBATIONS

    assert "resize" not in PERTURBATIONS and parse_perturbation("resize:0.5").kind == "resize"
