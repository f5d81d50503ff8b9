"""Augmentation policies: every step does what it says, draws nothing when disabled, and crops keep their size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fakescope.detector.data import AUGMENT_POLICIES, Augment, augment, mask_patches, sample_crops

OFF = Augment(blur_prob=0.0, jpeg_prob=0.0, flip=False)


def photo(seed: int = 0, size: int = 96) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(AUGMENT_POLICIES))
def test_every_policy_gives_crops_of_the_asked_size(name):
    rng = np.random.default_rng(0)
    crops = sample_crops([photo(i) for i in range(16)], range(16), AUGMENT_POLICIES[name], 48, rng)
    assert {c.shape for c in crops} == {(48, 48, 3)} and all(c.dtype == np.uint8 for c in crops)


def test_disabled_steps_draw_nothing():
    rng = np.random.default_rng(5)
    out = augment(photo(), OFF, rng)
    assert np.array_equal(out, photo())
    assert rng.random() == np.random.default_rng(5).random()  # the stream was not advanced


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_rescaling_changes_the_size_by_its_factor(factor):
    aug = replace(OFF, scale_prob=1.0, scale_range=(factor, factor), scale_methods=("area", "cubic"))
    assert augment(photo(size=64), aug, np.random.default_rng(0)).shape == (int(64 * factor),) * 2 + (3,)


def test_jitter_rotation_and_masking():
    image = photo()
    assert not np.array_equal(augment(image, replace(OFF, jitter_prob=1.0), np.random.default_rng(1)), image)
    turned = [augment(image, replace(OFF, rot90=True), np.random.default_rng(s)) for s in range(8)]
    assert any(np.array_equal(t, np.rot90(image)) for t in turned)
    masked = mask_patches(image[:64, :64], replace(OFF, mask_prob=1.0, mask_fraction=0.5), np.random.default_rng(2))
    gray = (masked.reshape(4, 16, 4, 16, 3) == 128).all(axis=(1, 3, 4))  # [4, 4] cells set to mid-gray
    assert 1 <= gray.sum() <= 8
