"""fakescope adapt: a few images of a new generator become an ordinary detector checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakescope.detector.adapt import AdaptRequest, adapt, cv_folds
from fakescope.detector.base import load_detector
from fakescope.detector.families.adapted import AdaptedDetector
from fakescope.detector.operating import OPERATING_POINTS, threshold_for_fpr
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.imageio import write_png


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _photo_like(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    from skimage import data

    pick = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()][int(rng.integers(4))]
    y, x = rng.integers(0, pick.shape[0] - size + 1), rng.integers(0, pick.shape[1] - size + 1)
    return np.ascontiguousarray(pick[y:y + size, x:x + size])  # a native-resolution window


def _grainy(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A 'generator' the default detector misses (it scores these near 0): photographs under strong sensor-like
    grain, a trace with no up-sampling in it."""
    image = _photo_like(rng, size).astype(np.float64) + rng.normal(0, 12, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapt")
    rng = np.random.default_rng(0)
    out = {}
    for name, make, n in (("fake", _grainy, 8), ("real", _photo_like, 6), ("test_fake", _grainy, 6),
                          ("test_real", _photo_like, 6)):
        folder = root / name
        folder.mkdir()
        for i in range(n):
            write_png(folder / f"{i:02d}.png", make(rng))
        out[name] = folder
    return out


@pytest.fixture(scope="module")
def adapted(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "grainy"
    report = adapt(AdaptRequest(fakes=(("grainy", folders["fake"]),), reals=(folders["real"],), out=out))
    return out, report


def _images(folder: Path) -> list[np.ndarray]:
    from fakescope.core.imageio import read_image

    return [read_image(p) for p in sorted(folder.glob("*.png"))]


def test_adapted_detector_catches_the_new_generator_on_images_it_never_saw(adapted, folders):
    out, report = adapted
    det = load_detector(out)
    assert isinstance(det, AdaptedDetector)
    fake = det.predict_proba(_images(folders["test_fake"]))
    real = det.predict_proba(_images(folders["test_real"]))
    base = load_detector(None)
    base_fake = base.predict_proba(_images(folders["test_fake"]))
    assert fake.min() > real.max()  # every unseen grainy image above every unseen real one
    assert (fake >= det.threshold).mean() > (base_fake >= base.threshold).mean()
    assert report.generators[0].name == "grainy" and report.generators[0].images == 8
    assert report.generators[0].cv_ap is not None and report.warning is None


def test_the_base_is_kept_whole_so_nothing_it_flags_is_forgotten(adapted, folders):
    det = load_detector(adapted[0])
    base = load_detector(None)
    images = _images(folders["test_real"]) + _images(folders["test_fake"])
    b, h = det.parts(images)
    assert np.allclose(b, base.predict_proba(images))
    assert np.allclose(det.predict_proba(images), np.maximum(b, h))


def test_operating_points_are_stored_ordered_and_the_threshold_is_balanced(adapted):
    det = load_detector(adapted[0])
    points = {name: det.operating_threshold(name) for name in OPERATING_POINTS}
    assert points["strict"] >= points["balanced"] >= points["sensitive"]
    assert det.threshold == points["balanced"] == adapted[1].threshold
    assert 0.0 <= adapted[1].reals_flagged <= OPERATING_POINTS["balanced"] + 1e-9


def test_score_takes_the_adapted_checkpoint_and_an_operating_point(adapted, folders):
    out = adapted[0]
    res = run_cli("score", str(folders["test_fake"]), "-d", str(out), "--format", "json",
                  "--operating-point", "sensitive")
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)
    assert len(records) == 6 and all(r["label"] == "fake" for r in records)
    res = run_cli("score", str(folders["test_fake"]), "-d", str(out), "--operating-point", "strict",
                  "--threshold", "0.5")
    assert res.exit_code == 2 and "not both" in res.output


def test_adapt_command_writes_a_checkpoint_and_json(folders, tmp_path):
    out = tmp_path / "det"
    res = run_cli("adapt", "--fake", f"grainy={folders['fake']}", "--out", str(out), "--format", "json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["generators"][0]["images"] == 8 and report["reals_given"] == 0
    assert set(report["operating_points"]) == set(OPERATING_POINTS)
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    meta = json.loads((out / "config.json").read_text())
    assert meta["family"] == "adapted" and meta["adaptation"]["command"].startswith("fakescope adapt")


@pytest.mark.parametrize("case", ["empty", "unreadable", "same-file", "missing", "bad-name", "twice"])
def test_adapt_refuses_clearly(case, folders, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png")
    args = {
        "empty": ["--fake", f"g={empty}"],
        "unreadable": ["--fake", f"g={bad}"],
        "same-file": ["--fake", f"g={folders['fake']}", "--real", str(folders["fake"] / "00.png")],
        "missing": ["--fake", f"g={tmp_path / 'nope'}"],
        "bad-name": ["--fake", f"{folders['fake']}"],
        "twice": ["--fake", f"g={folders['fake']}", "--fake", f"g={folders['real']}"],
    }[case]
    res = run_cli("adapt", *args, "--out", str(tmp_path / "out"))
    assert res.exit_code in (1, 2), res.output
    line = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(line) == 1, res.output
    expect = {"empty": "no readable image", "unreadable": "no readable image", "same-file": "given as real",
              "missing": "no such file", "bad-name": "NAME=DIR", "twice": "given twice"}[case]
    assert expect in line[0]
    assert not (tmp_path / "out" / "config.json").exists()


def test_one_image_adapts_but_says_it_cannot_estimate(folders, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    (one / "x.png").write_bytes((folders["fake"] / "00.png").read_bytes())
    report = adapt(AdaptRequest(fakes=(("g", one),), out=tmp_path / "det"))
    assert report.generators[0].cv_ap is None and "too few" in report.warning
    assert load_detector(tmp_path / "det").predict_proba(_images(one)).shape == (1,)


def test_cross_validation_folds_keep_groups_whole_and_hold_both_classes():
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 7])
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    fold = cv_folds(groups, labels, 2, seed=0)
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1
    for f in (0, 1):
        assert set(labels[fold == f]) == {0, 1}


def test_threshold_for_fpr_flags_at_most_that_share():
    scores = np.linspace(0, 1, 200)
    for fpr in (0.01, 0.05, 0.1):
        t = threshold_for_fpr(scores, fpr)
        assert (scores >= t).mean() <= fpr
        assert (scores >= t).mean() >= fpr - 1 / 200
    tied = np.r_[np.zeros(90), np.ones(10)]
    assert (tied >= threshold_for_fpr(tied, 0.05)).mean() == 0.0  # a tie across the cut flags none of it
