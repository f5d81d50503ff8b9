"""Calibration maps, threshold rules and the expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest
from fakescope.detector.calibration import Calibration, choose_threshold, expected_calibration_error, fit_calibration
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score


def overconfident(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with probability sigmoid(z) and raw scores sigmoid(4z): far too confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    return labels, 1.0 / (1.0 + np.exp(-4.0 * z))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_lowers_the_error_of_overconfident_scores(method):
    labels, raw = overconfident(seed=0)
    cal = fit_calibration(raw, labels, method)
    test_labels, test_raw = overconfident(seed=1)  # measured on other data than it was fit on
    before = expected_calibration_error(test_labels, test_raw)
    after = expected_calibration_error(test_labels, cal(test_raw))
    assert after < 0.6 * before, (before, after)


def test_platt_keeps_the_ranking_and_round_trips_through_tensors():
    labels, raw = overconfident()
    cal = fit_calibration(raw, labels, "platt")
    probs = cal(raw)
    assert 0.15 < cal.params[0] < 0.4  # the slope undoes the factor 4
    assert average_precision_score(labels, probs) == pytest.approx(average_precision_score(labels, raw), abs=1e-12)
    again = Calibration.from_tensors(cal.tensors())
    np.testing.assert_array_equal(again(raw), probs)


def test_isotonic_is_sklearns_and_round_trips_through_tensors():
    labels, raw = overconfident()
    cal = fit_calibration(raw, labels, "isotonic")
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, labels)
    probe = np.linspace(-0.1, 1.1, 301)
    np.testing.assert_allclose(cal(probe), reference.predict(probe), atol=1e-12)
    np.testing.assert_array_equal(Calibration.from_tensors(cal.tensors())(probe), cal(probe))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_calibration_never_turns_a_detector_around(method):
    """Validation scores that rank fakes below reals give a flat map (the base rate), not a reversed ranking."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200, int), np.ones(100, int)]
    raw = np.clip(np.where(labels == 1, 0.3, 0.7) + rng.normal(scale=0.15, size=300), 0.01, 0.99)
    cal = fit_calibration(raw, labels, method)
    assert cal.flat
    probs = cal(np.linspace(0.01, 0.99, 50))
    np.testing.assert_allclose(probs, probs[0], atol=1e-3 if method == "isotonic" else 1e-12)
    if method == "platt":  # the validation share of fakes, with Platt's smoothed targets
        assert probs[0] == pytest.approx((101 / 102 * 100 + 1 / 202 * 200) / 300, abs=1e-9)
    assert not fit_calibration(1.0 - raw, labels, method).flat


def test_platt_stays_finite_on_perfectly_separated_scores():
    labels = np.repeat([0, 1], 50)
    raw = np.r_[np.linspace(0.0, 0.3, 50), np.linspace(0.7, 1.0, 50)]
    probs = fit_calibration(raw, labels, "platt")(raw)
    assert 0 < probs.min() and probs.max() < 1
    t = choose_threshold(labels, probs)
    assert probs[:50].max() < t <= probs[50:].min()  # between the classes, not on a sample


def test_none_and_single_class_leave_scores_alone():
    raw = np.array([0.1, 0.4, 0.9])
    np.testing.assert_array_equal(fit_calibration(raw, np.array([0, 1, 1]), "none")(raw), raw)
    np.testing.assert_array_equal(fit_calibration(raw, np.array([1, 1, 1]), "platt")(raw), raw)
    with pytest.raises(ValueError, match="unknown calibration 'beta'"):
        fit_calibration(raw, np.array([0, 1, 1]), "beta")


def test_ece_by_hand():
    # two bins used: [0.2]*2 with one fake (gap |0.5 - 0.2| = 0.3), [0.9]*2 with two fakes (gap 0.1)
    labels = np.array([0, 1, 1, 1])
    probs = np.array([0.2, 0.2, 0.9, 0.9])
    assert expected_calibration_error(labels, probs) == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=60),
       st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.5]))
def test_fpr_threshold_respects_the_budget_and_catches_the_most_fakes(pairs, target):
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs])
    t = choose_threshold(labels, scores, "fpr", target)
    if len(np.unique(labels)) < 2:
        assert t == 0.5
        return
    real, fake = scores[labels == 0], scores[labels == 1]
    assert np.mean(real >= t) <= target + 1e-12
    # no threshold within the FPR budget catches more fakes
    candidates = [c for c in np.r_[scores, np.inf] if np.mean(real >= c) <= target + 1e-12]
    assert np.mean(fake >= t) == max(np.mean(fake >= c) for c in candidates)


def test_balanced_threshold_maximises_balanced_accuracy():
    labels, scores = overconfident(n=300, seed=3)
    t = choose_threshold(labels, scores, "balanced")

    def balanced(c):
        return 0.5 * (np.mean(scores[labels == 0] < c) + np.mean(scores[labels == 1] >= c))

    assert balanced(t) == pytest.approx(max(balanced(c) for c in scores))
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(labels, scores, "f1")


def test_a_threshold_that_flags_nothing_survives_a_save(tmp_path):
    from fakescope.detector.base import create_detector, load_detector
    from fakescope.detector.calibration import FLAG_NOTHING

    # a real scored exactly 1 (a saturated network): no threshold in [0, 1] keeps it unflagged
    t = choose_threshold(np.array([0, 1, 1]), np.array([1.0, 0.2, 0.3]), "fpr", 0.0)
    assert t == FLAG_NOTHING and not 1.0 >= t
    det = create_detector("spectrum")
    det.threshold = t
    det.save(tmp_path / "det")
    assert load_detector(tmp_path / "det").threshold == t
