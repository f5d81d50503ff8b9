"""The ``surprisal`` family: a pixel model of real images, and how far an image's coding cost is from its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fakescope.detector.base import create_detector, load_detector
from fakescope.detector.data import ImageSet
from fakescope.detector.families.surprisal import entropy_bits, log2_likelihood
from safetensors import safe_open

TINY = {"crop": 32, "steps": 40, "width": 8, "batch_size": 16}


def _exact(mean: float, log_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Every integer bin's probability (over a range holding all the mass) and those integers; each bin's mass is
    taken on the side of the mean where the two logistic CDFs do not cancel."""
    from scipy.special import expit

    s = np.exp(log_scale)
    reach = max(4000, int(60 * s))  # the logistic's mass beyond 60 scales: e^-60
    k = np.arange(np.floor(mean) - reach, np.floor(mean) + reach + 1)
    lo, hi = (k - 0.5 - mean) / s, (k + 0.5 - mean) / s
    p = np.where(k > mean, expit(-lo) - expit(-hi), expit(hi) - expit(lo))
    return k, p


@pytest.mark.parametrize(("mean", "log_scale"), [(100.3, -2.5), (100.0, -2.0), (17.0, 0.0), (200.8, 1.3),
                                                 (128.5, 3.5), (5.2, 5.5)])
def test_likelihood_is_that_of_the_discretised_logistic_also_far_in_its_tails(mean, log_scale):
    k, p = _exact(mean, log_scale)
    x = torch.tensor(k, dtype=torch.float64)
    log_p = log2_likelihood(x, torch.full_like(x, mean), torch.full_like(x, log_scale)).numpy()
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    kept = p > 1e-250  # bins of 1e-5 and far below included: no stand-in density
    assert (p[kept] < 1e-12).sum() > 10
    np.testing.assert_allclose(log_p[kept], np.log2(p[kept]), rtol=1e-7, atol=1e-9)


def test_entropy_is_exact_to_2e_3_bit_wherever_the_mean_falls_and_whatever_the_scale():
    for log_scale in np.linspace(-2.5, 6.0, 18):
        for mean in 100.0 + np.linspace(-0.5, 0.5, 11):
            _, p = _exact(mean, log_scale)
            exact = -(p[p > 0] * np.log2(p[p > 0])).sum()
            h = entropy_bits(torch.tensor([mean], dtype=torch.float64), torch.tensor([log_scale], dtype=torch.float64))
            assert float(h[0]) == pytest.approx(exact, abs=2e-3), (log_scale, mean)


def _images(n: int, seed: int, smooth: bool) -> list[np.ndarray]:
    """Smooth bicubic images with sensor-like noise (the real class) or 2× nearest up-sampled noise."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if smooth:
            small = rng.uniform(20, 220, size=(8, 8, 3)).astype(np.float32)
            img = cv2.resize(small, (32, 32), interpolation=cv2.INTER_CUBIC) + rng.normal(scale=4.0, size=(32, 32, 3))
        else:
            img = np.kron(rng.uniform(20, 220, size=(16, 16, 3)), np.ones((2, 2, 1)))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def _split(n: int, seed: int, fakes: list[np.ndarray] | None = None) -> ImageSet:
    fakes = _images(n, seed + 1, smooth=False) if fakes is None else fakes
    return ImageSet(_images(n, seed, smooth=True) + fakes, np.array([0] * n + [1] * len(fakes)))


def test_features_are_each_levels_mean_nll_entropy_and_their_gap():
    """Against the pixel model's own predictions, level by level (level 1 predicted from level 2)."""
    from fakescope.detector.families.surprisal import pyramid_level
    from torch.nn import functional as F

    det = create_detector("surprisal", levels=(0, 1), **TINY)
    windows = _images(3, 0, smooth=True)
    x = det.featurize(windows)
    assert x.shape == (3, 6) and det.feature_names() == ["nll0", "h0", "d0", "nll1", "h1", "d1"]
    grey = torch.from_numpy(np.stack(windows).astype(np.float32)).permute(0, 3, 1, 2)
    for level in (0, 1):
        target = pyramid_level(grey, level)
        assert target.shape[-1] == 32 // 2**level
        with torch.no_grad():
            mean, log_scale = det.predictor(F.avg_pool2d(target, 2))
        nll = -log2_likelihood(target, mean, log_scale).flatten(1).mean(1).double().numpy()
        h = entropy_bits(mean, log_scale).flatten(1).mean(1).double().numpy()
        np.testing.assert_allclose(x[:, 3 * level: 3 * level + 3], np.stack([nll, h, nll - h], 1), rtol=1e-5)


@pytest.mark.parametrize("head", ["below", "both"])
def test_a_one_class_head_never_reads_a_fake_training_image(head):
    """Replacing every fake of the training split changes nothing that is learnt."""
    val = _split(8, 10)
    learnt = []
    for fakes in (_images(12, 1, smooth=False), [np.zeros((32, 32, 3), np.uint8)] * 3):
        det = create_detector("surprisal", head=head, **TINY)
        det.fit(_split(12, 0, fakes), val, device=torch.device("cpu"), seed=0)
        learnt.append(det.tensors())
    for key, value in learnt[0].items():
        assert torch.equal(value, learnt[1][key]), key


def test_too_predictable_and_too_surprising_images_both_score_high_under_the_two_sided_head():
    det = create_detector("surprisal", head="both", **{**TINY, "steps": 150})
    det.fit(_split(24, 0), _split(8, 10), device=torch.device("cpu"), seed=0)
    rng = np.random.default_rng(5)
    real = det.raw_scores(_images(8, 20, smooth=True))
    flat = det.raw_scores(_images(8, 21, smooth=False))  # fine detail gone: coded below the expected cost
    noisy = det.raw_scores([rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(8)])
    assert flat.min() > real.max() and noisy.min() > real.max(), (real, flat, noisy)
    below = create_detector("surprisal", head="below", **{**TINY, "steps": 150})
    below.fit(_split(24, 0), _split(8, 10), device=torch.device("cpu"), seed=0)
    np.testing.assert_array_equal(below.predictor.body[0].weight.detach(), det.predictor.body[0].weight.detach())
    assert below.raw_scores(_images(8, 21, smooth=False)).min() > below.raw_scores(_images(8, 20, smooth=True)).max()


def test_training_refuses_a_split_without_real_images():
    fakes = ImageSet(_images(4, 0, smooth=False), np.ones(4, dtype=np.int64))
    with pytest.raises(ValueError, match="model of real images"):
        create_detector("surprisal", **TINY).fit(fakes, _split(4, 1), device=torch.device("cpu"), seed=0)


@pytest.mark.parametrize(("settings", "message"), [
    ({"head": "sideways"}, "unknown surprisal head"),
    ({"levels": (1, 0)}, "increasing"),
    ({"levels": (1,)}, "start at 0"),
    ({"crops_per_image": 0}, "crops_per_image"),
    ({"head": "linear", "C": ()}, "one C"),
    ({"crop": 34, "levels": (0, 1)}, "not divisible"),
    ({"width": 0}, "positive"),
])
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        create_detector("surprisal", **settings)


@pytest.mark.parametrize("settings", [{}, {"head": "both"}, {"head": "linear", "levels": (0, 1)}])
def test_the_checkpoint_holds_the_pixel_model_in_fp16_and_the_head_in_float64(settings, tmp_path):
    det = create_detector("surprisal", **TINY, **settings)
    det.fit(_split(12, 0), _split(8, 10), device=torch.device("cpu"), seed=0)
    det.round_to_half()
    det.save(tmp_path / "ckpt", half=True)
    with safe_open(tmp_path / "ckpt" / "model.safetensors", "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes["predictor.body.0.weight"] == "F16" and dtypes["scaler.mean"] == "F64"
    images = _images(4, 30, smooth=True)
    np.testing.assert_array_equal(load_detector(tmp_path / "ckpt").raw_scores(images), det.raw_scores(images))


def test_a_checkpoint_with_a_missing_or_misshapen_pixel_model_is_refused(tmp_path):
    from fakescope.detector.base import CHECKPOINT_KIND

    from fakescope.core.checkpoint import CheckpointError, save_checkpoint

    det = create_detector("surprisal", **TINY)
    tensors = det.tensors()
    without = {k: v for k, v in tensors.items() if k != "predictor.body.0.bias"}
    with pytest.raises(KeyError, match="predictor.body.0.bias"):
        create_detector("surprisal", **TINY).load_tensors(without)
    wide = {**tensors, "predictor.body.0.weight": torch.zeros(16, 3, 3, 3)}
    with pytest.raises(ValueError, match=r"predictor.body.0.weight: shape \(16, 3, 3, 3\)"):
        create_detector("surprisal", **TINY).load_tensors(wide)
    save_checkpoint(tmp_path / "bad", wide, {"kind": CHECKPOINT_KIND, "family": "surprisal", "config": det.config,
                                             "threshold": 0.5, "calibration_method": "none"})
    with pytest.raises(CheckpointError, match="predictor.body.0.weight"):
        load_detector(tmp_path / "bad")
    broken = {**tensors, "predictor.body.0.bias": torch.full_like(tensors["predictor.body.0.bias"], float("nan"))}
    with pytest.raises(ValueError, match="predictor.body.0.bias holds NaN"):
        create_detector("surprisal", **TINY).load_tensors(broken)


def test_one_class_statistics_come_from_real_images_the_pixel_model_never_saw(monkeypatch):
    """A fifth of the real training images is held out of the pixel model's training for the head's statistics."""
    import fakescope.detector.families.surprisal as module

    seen = []
    original = module.sample_crops
    monkeypatch.setattr(module, "sample_crops", lambda images, idx, *a: seen.extend(idx) or original(images, idx, *a))
    det = create_detector("surprisal", **TINY)
    record = det.fit(_split(20, 0), _split(4, 10), device=torch.device("cpu"), seed=0)
    assert record["real_windows"] == 2 * 4  # crops_per_image x 20 // 5 held-out images
    assert len(set(seen)) == 16 and max(seen) < 20  # the pixel model drew from the other 16 reals only


def test_a_single_real_training_image_still_gives_finite_statistics():
    train = ImageSet(_images(1, 0, smooth=True) + _images(2, 1, smooth=False), np.array([0, 1, 1]))
    det = create_detector("surprisal", **TINY)
    det.fit(train, _split(4, 10), device=torch.device("cpu"), seed=0)
    assert np.all(np.isfinite(det.head.mean)) and np.all(np.isfinite(det.head.scale))
    assert np.all(np.isfinite(det.raw_scores(_images(2, 5, smooth=True))))
