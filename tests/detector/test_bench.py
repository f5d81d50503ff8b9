"""``detector.bench``: AP per generator against every real image, under perturbations applied to both classes."""

from __future__ import annotations

import numpy as np
import pytest
from fakescope.detector.base import load_detector
from fakescope.detector.bench import bench, generator_labels, generator_name, perturb_images
from fakescope.detector.data import ImageSet, load_split
from sklearn.metrics import average_precision_score, roc_auc_score

from fakescope.core.perturb import Perturbation, parse_perturbation


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
            fakes, reals_ = scores[keep][data.labels[keep] == 1], scores[keep][data.labels[keep] == 0]
            assert row["roc_auc"] == pytest.approx(roc_auc_score(data.labels[keep], scores[keep]))
            assert row["fake_accuracy"] == pytest.approx(float((fakes >= det.threshold).mean()))
            assert row["real_accuracy"] == pytest.approx(float((reals_ < det.threshold).mean()))
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


def test_generators_sharing_a_name_are_kept_apart():
    rows = [{"label": 0, "origin": "digits"},
            {"label": 1, "origin": "vanilla-digits", "checkpoint_sha256": "a" * 64},
            {"label": 1, "origin": "vanilla-digits", "checkpoint_sha256": "b" * 64},
            {"label": 1, "origin": "all", "checkpoint_sha256": "c" * 64},
            {"label": 1, "origin": "progan-faces", "checkpoint_sha256": "d" * 64}]
    data = ImageSet([np.zeros((4, 4, 3), np.uint8)] * len(rows), np.array([r["label"] for r in rows]), rows)
    assert list(generator_labels(data)) == ["", "vanilla-digits@aaaaaaaa", "vanilla-digits@bbbbbbbb",
                                            "all@cccccccc", "progan-faces"]


def test_a_split_without_reals_gives_null_metrics_not_nan(bench_corpora, bench_detector_dir):
    test = load_split([bench_corpora[1]], "test")
    fakes = test.subset(np.flatnonzero(test.labels == 1).tolist())
    rows = bench({"spec": load_detector(bench_detector_dir)}, fakes)
    assert rows and all(r["ap"] is None and r["roc_auc"] is None and r["real_accuracy"] is None for r in rows)
    assert all(0.0 <= r["fake_accuracy"] <= 1.0 for r in rows)
