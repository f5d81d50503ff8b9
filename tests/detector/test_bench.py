"""``detector.bench``: AP per generator against every real image, under perturbations applied to both classes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from detector.base import load_detector
from detector.bench import bench, generator_name, perturb_images
from detector.data import ImageSet, load_split
from generators.recipes import Perturbation, parse_perturbation


def test_generator_name_from_manifest_rows():
    assert generator_name({"origin": "progan-faces", "checkpoint": "x/checkpoint"}) == "progan-faces"
    assert generator_name({"checkpoint": "runs/my-gan/checkpoint"}) == "my-gan"
    assert generator_name({"generator": "generators/weights/vanilla-digits"}) == "vanilla-digits"


def test_rows_rank_each_generator_against_every_real(bench_corpora, bench_detector_dir):
    det = load_detector(bench_detector_dir)
    data = ImageSet.concat([load_split([c], "test") for c in bench_corpora])
    jpeg = Perturbation("jpeg", 50)
    rows = bench({"spec": det}, data, [None, jpeg], device="cpu")
    gens = sorted({generator_name(r) for r in data.rows if r["label"] == 1})
    assert len(gens) == 2
    assert [(r["perturbation"], r["generator"]) for r in rows] == [(p, g) for p in ("none", "jpeg:50")
                                                                   for g in ("all", *gens)]
    reals = int((data.labels == 0).sum())
    assert all(r["reals"] == reals for r in rows)

    for perturbation, images in (("none", data.images), ("jpeg:50", perturb_images(data.images, jpeg))):
        scores = det.predict_proba(images)
        for g in gens:
            keep = np.array([r["label"] == 0 or generator_name(r) == g for r in data.rows])
            row = next(r for r in rows if r["perturbation"] == perturbation and r["generator"] == g)
            assert row["fakes"] == int(keep.sum()) - reals
            assert row["ap"] == pytest.approx(average_precision_score(data.labels[keep], scores[keep]))
            fakes = scores[keep][data.labels[keep] == 1]
            assert row["fake_accuracy"] == pytest.approx(float((fakes >= det.threshold).mean()))
    clean = {r["generator"]: r["ap"] for r in rows if r["perturbation"] == "none"}
    assert clean != {r["generator"]: r["ap"] for r in rows if r["perturbation"] == "jpeg:50"}


def test_perturbations_are_applied_alike_and_reproducibly(bench_corpora):
    images = load_split([bench_corpora[0]], "test").images[:4]
    assert all(a is b for a, b in zip(perturb_images(images, None), images, strict=True))
    noise = parse_perturbation("noise:3")
    first, again = perturb_images(images, noise, seed=1), perturb_images(images, noise, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, perturb_images(images, noise, seed=2), strict=True))
    assert all(a.shape == b.shape and not np.array_equal(a, b) for a, b in zip(first, images, strict=True))


@pytest.mark.parametrize("text, message", [
    ("jpeg:150", "quality 150: expected an integer 1 .. 100"),
    ("jpeg:7.5", "quality 7.5: expected an integer 1 .. 100"),
    ("blur:0", "sigma 0.0: expected 0 < sigma <= 100"),
    ("blur:x", "sigma x: expected 0 < sigma <= 100"),
    ("sharpen:2", "kind 'sharpen': expected one of blur, noise, jpeg"),
    ("jpeg", "expected KIND:VALUE"),
])
def test_bad_perturbations_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_perturbation(text)
