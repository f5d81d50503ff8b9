"""Training on (real image, its reconstruction) pairs under identical augmentation (aligned datasets)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fakescope.detector.base import create_detector
from fakescope.detector.data import AUGMENT_POLICIES, load_split, paired_crops, paired_reals
from fakescope.generators.corpus import build_corpus
from fakescope.generators.recipes import parse_recipe


@pytest.fixture(scope="module")
def resynth_corpus(tmp_path_factory):
    """Real 32 px windows of the bundled photographs against re-syntheses of other windows by a bundled model."""
    out = tmp_path_factory.mktemp("pairs") / "c"
    recipe = parse_recipe({"name": "pairs", "seed": 3, "size": 32, "channels": 3,
                           "counts": {"train": 24, "val": 8, "test": 8}, "real": [{"source": "photos"}],
                           "fake": [{"generator": "resynth-deconv4-s2", "input": "photos"}]})
    build_corpus(recipe, out)
    return out


def test_both_members_of_a_pair_get_the_same_augmentation():
    image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    aug = AUGMENT_POLICIES["resample"]
    for seed in range(20):
        a, b = paired_crops(image, image.copy(), aug, 32, seed)
        assert a.shape == (32, 32, 3) and np.array_equal(a, b)
    crops = {paired_crops(image, image, aug, 32, seed)[0].tobytes() for seed in range(20)}
    assert len(crops) > 10  # and the draws differ from pair to pair


def test_each_fake_gets_back_the_real_window_it_was_made_from(resynth_corpus):
    train = load_split([resynth_corpus], "train")
    keep, reals = paired_reals(train)
    fakes = [train.images[i] for i in keep]
    assert len(keep) == 24 and all(train.labels[i] == 1 for i in keep)
    own = np.mean([np.abs(r.astype(float) - f).mean() for r, f in zip(reals, fakes, strict=True)])
    other = np.mean([np.abs(r.astype(float) - f).mean() for r, f in zip(reals, fakes[1:] + fakes[:1], strict=True)])
    assert own < 0.25 * other  # a re-synthesis stays close to its own input, far from any other window


def test_training_on_pairs(resynth_corpus, tiny_corpus):
    train, val = load_split([resynth_corpus], "train"), load_split([resynth_corpus], "val")
    det = create_detector("npr", width=8, batch_size=16, epochs=1, pairs=True)
    record = det.fit(train, val, device=torch.device("cpu"), seed=0)
    assert record["steps"] == 24 // 8  # 8 pairs (16 images) per step over the 24 fakes that have their real
    det = create_detector("npr", width=8, epochs=1, pairs=True)
    with pytest.raises(ValueError, match="pairs=true"):  # noise-to-image fakes have no real counterpart
        det.fit(load_split([tiny_corpus], "train"), load_split([tiny_corpus], "val"), device=torch.device("cpu"),
                seed=0)


def test_pairs_refuse_a_corpus_stored_lossily(tmp_path):
    """A JPEG-stored fake beside a real drawn again as raw pixels would differ by the encoding: refused."""
    recipe = parse_recipe({"name": "pairs-jpeg", "seed": 3, "size": 32, "channels": 3, "format": "jpeg",
                           "quality": 90, "counts": {"train": 4, "val": 2, "test": 2}, "real": [{"source": "photos"}],
                           "fake": [{"generator": "resynth-deconv4-s2", "input": "photos"}]})
    build_corpus(recipe, tmp_path / "c")
    with pytest.raises(ValueError, match="lossily"):
        paired_reals(load_split([tmp_path / "c"], "train"))
