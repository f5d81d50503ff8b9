"""Quality metrics: identical sets are at ~0, a changed set is farther, known closed forms hold."""

import hashlib

import cv2
import numpy as np
import pytest
import torch
from fakescope.generators import metrics as M
from fakescope.generators.sources import create_source
from torch.nn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore::fakescope.generators.metrics.UnstableEstimateWarning")


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return create_source("faces").draw(None, size=32, channels=1, split="all", seed=0).images  # [100, 1, 32, 32]


def test_frechet_distance_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 4))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert M.frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), abs=1e-9)  # same Σ: ‖Δμ‖²
    # N(0, I) vs N(0, 4I) in 4 dims: tr(I + 4I − 2·2I) = 4
    assert M.frechet_distance(a, 2 * rng.standard_normal((20000, 4))) == pytest.approx(4.0, rel=0.05)


def test_kernel_distance_is_unbiased_near_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    same = M.kernel_distance(a, b, subsets=20, subset_size=200)
    shifted = M.kernel_distance(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and shifted > 10 * max(abs(same), 1e-3)


def test_random_conv_features_are_fixed_and_not_inception():
    x = torch.rand(3, 3, 20, 20) * 2 - 1
    torch.manual_seed(123)  # the extractor does not depend on (nor disturb) the global seed
    a = M.RandomConvFeatures()(x)
    state = torch.random.get_rng_state()
    b = M.RandomConvFeatures()(x)
    assert torch.equal(a, b) and torch.equal(state, torch.random.get_rng_state())
    assert a.shape == (3, 256) and M.RandomConvFeatures.name == "random-conv"
    gray = torch.rand(2, 1, 16, 16) * 2 - 1
    assert torch.equal(M.RandomConvFeatures()(gray), M.RandomConvFeatures()(gray.expand(-1, 3, -1, -1)))


def test_fd_and_kid_random_conv(faces):
    faces = faces[:60]
    same_fd, same_kid = M.fd_random_conv(faces, faces), M.kid_random_conv(faces, faces)
    assert abs(same_fd) < 1e-6 and abs(same_kid) < 0.01
    shifted = (faces + 0.3).clamp(-1, 1)
    upside_down = faces.flip(2)
    assert M.fd_random_conv(faces, shifted) > 0.5 and M.kid_random_conv(faces, shifted) > 0.02
    assert M.fd_random_conv(faces, upside_down) > 0.3  # features keep coarse layout


def test_sliced_wasserstein_distance(faces):
    same = M.sliced_wasserstein_distance(faces, faces)
    assert set(same) == {"SWDx1e3-32", "SWDx1e3-16", "SWDx1e3-avg"}
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in same.values())
    noisy = M.sliced_wasserstein_distance(faces, faces + 0.2 * torch.randn_like(faces))
    blurred = F.avg_pool2d(F.pad(faces, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    blur = M.sliced_wasserstein_distance(faces, blurred)
    assert noisy["SWDx1e3-32"] > 20 and blur["SWDx1e3-32"] > 20
    assert noisy["SWDx1e3-avg"] == pytest.approx((noisy["SWDx1e3-32"] + noisy["SWDx1e3-16"]) / 2)
    other_size = M.sliced_wasserstein_distance(faces, faces[:40])  # unequal counts are subsampled
    assert other_size["SWDx1e3-avg"] < noisy["SWDx1e3-avg"]


def test_laplacian_pyramid_matches_opencv_and_reconstructs():
    img = torch.rand(1, 1, 32, 32)
    down = M._pyr_down(img)[0, 0].numpy()
    assert np.allclose(down, cv2.pyrDown(img[0, 0].numpy()), atol=1e-5)  # the reference code's claim
    pyramid = M.laplacian_pyramid(img, 3)
    assert [p.shape[-1] for p in pyramid] == [32, 16, 8]
    rebuilt = pyramid[-1]
    for band in pyramid[-2::-1]:
        rebuilt = M._pyr_up(rebuilt) + band
    assert torch.allclose(rebuilt, img, atol=1e-5)


def test_bad_inputs_and_few_images():
    with pytest.raises(M.MetricsError, match="expected images"):
        M.fd_random_conv(torch.rand(4, 2, 8, 8), torch.rand(4, 1, 8, 8))
    with pytest.raises(M.MetricsError, match="at least 16 px"):
        M.sliced_wasserstein_distance(torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8))
    with pytest.raises(M.MetricsError, match="shapes differ"):
        M.sliced_wasserstein_distance(torch.rand(8, 1, 16, 16), torch.rand(8, 3, 16, 16))
    with pytest.warns(M.UnstableEstimateWarning, match="too few"):
        M.fd_random_conv(torch.rand(10, 1, 16, 16), torch.rand(10, 1, 16, 16))
    small = M.quality_metrics(torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8))
    assert set(small) == {"FD-random-conv", "KID-random-conv"}  # SWD needs ≥ 16 px


def test_fid_inception_weights_are_checked_by_hash(tmp_path):
    with pytest.raises(M.MetricsError, match="no such"):
        M.check_inception_weights(tmp_path / "missing.pth")
    wrong = tmp_path / M.FID_INCEPTION_FILE
    wrong.write_bytes(b"not the weights")
    with pytest.raises(M.MetricsError, match="not the standard FID Inception weights"):
        M.load_fid_inception(wrong)


def _weights_file(tmp_path) -> tuple:
    net = M.fid_inception_v3()
    path = tmp_path / "weights.pth"
    torch.save(net.state_dict(), path)
    return net.state_dict(), path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_fid_inception_takes_the_standard_layout(tmp_path):
    """pytorch-fid's layout: 1008 classes, no aux head. Real weights are never downloaded."""
    state = M.fid_inception_v3().state_dict()
    assert state["fc.weight"].shape == (1008, 2048) and not any(k.startswith("AuxLogits") for k in state)
    path = tmp_path / "partial.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, path)
    with pytest.raises(M.MetricsError, match="cannot load"):
        M.load_fid_inception(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.mark.slow
def test_fid_of_identical_sets_is_zero(tmp_path):
    _, path, digest = _weights_file(tmp_path)
    inception = M.load_fid_inception(path, sha256=digest)  # strict load: every key and shape fits
    images = torch.rand(3, 1, 16, 16) * 2 - 1
    feats = M._features(inception, images, torch.device("cpu"), 8)
    assert feats.shape == (3, 2048)
    assert M.fid(images, images, inception) == pytest.approx(0.0, abs=1e-6)
